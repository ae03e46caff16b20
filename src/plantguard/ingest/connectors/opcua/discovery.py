"""Browse an OPC UA server and propose measurement points from what its nodes say about
themselves: names, engineering units (``EngineeringUnits``), ranges (``EURange``), data types
and descriptions. A person reviews and accepts the proposals (web console or API); nothing
is created from a browse alone.

The walk is bounded twice: by the number of nodes it looks at and by a deadline. A server
with more than that answers with what was found and ``truncated`` set, never a hang.

Proposed node ids name their namespace by URI (``nsu=urn:...;s=...``) rather than by index:
namespace indexes are the server's to renumber (after a firmware update, or when its
namespaces register in a different order), URIs are stable, and the connector resolves
either form.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError, UaStringParsingError

from plantguard.ingest.connectors.opcua.manifest import OpcUaPoint, check_endpoint

BROWSE_BATCH = 100  # nodes per Browse call
READ_BATCH = 500  # attributes per Read call
CODE_MAX = 60
NAME_MAX = 200
UNIT_MAX = 20  # the measurement point's unit column
NUMBER_MAX = 1e12  # what a point's range may hold (core.schemas.Number)

# Built-in data types whose values a measurement point can hold (OPC UA Part 6, 5.1.2).
NUMERIC_TYPES: dict[int, str] = {
    1: "Boolean", 2: "SByte", 3: "Byte", 4: "Int16", 5: "UInt16", 6: "Int32", 7: "UInt32", 8: "Int64",
    9: "UInt64", 10: "Float", 11: "Double", 26: "Number", 27: "Integer", 28: "UInteger",
}
_CODE_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


class DiscoveryError(Exception):
    """The server could not be browsed at all (unreachable, refused the session), or the
    start node is not one of its nodes; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str = "endpoint") -> None:
        super().__init__(message)
        self.field = field


@dataclass
class ProposedPoint:
    node: str  # node id as the device point map takes it
    browse_path: str  # browse names from the start node, "Press01/HydraulicPressure"
    name: str
    code: str  # suggested measurement point code
    data_type: str
    unit: str = ""
    range_low: float | None = None
    range_high: float | None = None
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Discovery:
    points: list[ProposedPoint] = field(default_factory=list)
    visited: int = 0  # nodes looked at
    truncated: bool = False  # stopped by max_nodes or the deadline


def sanitize_code(text: str) -> str:
    """ASCII ``[A-Za-z0-9_.-]``, starting with a letter or digit, at most 60 characters;
    "" when nothing usable is left (a name in Chinese characters, say)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    code = _CODE_BAD.sub("-", ascii_text)
    code = re.sub(r"-{2,}", "-", code)
    code = re.sub(r"^[^A-Za-z0-9]+", "", code)
    return code[:CODE_MAX].rstrip("-.")


def node_string(nid: ua.NodeId, namespaces: Sequence[str]) -> str:
    """``i=85`` for the standard namespace, ``ns=1;...`` for the server's own, the stable
    ``nsu=<uri>;...`` form for every other namespace."""
    plain = str(nid.to_string())
    ns = int(nid.NamespaceIndex)
    if ns <= 1 or ns >= len(namespaces):
        return plain
    ident = plain.split(";", 1)[1] if plain.startswith("ns=") else plain
    return f"nsu={namespaces[ns]};{ident}"


def parse_node(text: str, namespaces: Sequence[str]) -> ua.NodeId:
    """A node id string in either form (``ns=2;s=X`` or ``nsu=<uri>;s=X``) as a NodeId of
    this server; :class:`DiscoveryError` if it is not one."""
    try:
        nid = ua.NodeId.from_string(text.strip())
    except (UaStringParsingError, ValueError) as exc:
        raise DiscoveryError(f"not a node id: {text}", "root") from exc
    if isinstance(nid, ua.ExpandedNodeId) and nid.NamespaceUri:
        if nid.NamespaceUri not in namespaces:
            raise DiscoveryError(f"the server has no namespace {nid.NamespaceUri}", "root")
        return ua.NodeId(nid.Identifier, ua.Int16(list(namespaces).index(nid.NamespaceUri)), nid.NodeIdType)
    return nid


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        f = float(value)
        return f if abs(f) <= NUMBER_MAX else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, ua.LocalizedText):
        return str(value.Text or "")
    if isinstance(value, ua.QualifiedName):
        return str(value.Name or "")
    return "" if value is None else str(value)


def _ok(dv: ua.DataValue) -> Any:
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        return None
    return dv.Value.Value if dv.Value is not None else None


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


@dataclass
class _Variable:
    nid: ua.NodeId
    path: list[str]
    display: str
    parent_display: str
    unit_node: ua.NodeId | None = None
    range_node: ua.NodeId | None = None


class _Walk:
    def __init__(self, client: Client, max_nodes: int, deadline: float) -> None:
        self.client = client
        self.max_nodes = max_nodes
        self.deadline = deadline
        self.result = Discovery()
        self.variables: dict[ua.NodeId, _Variable] = {}

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    async def call(self, coro: Any) -> Any:
        left = self.remaining()
        if left <= 0:
            coro.close()
            raise TimeoutError
        return await asyncio.wait_for(coro, timeout=left)

    async def browse(self, ids: Sequence[ua.NodeId]) -> list[list[ua.ReferenceDescription]]:
        """Forward hierarchical references of each node (objects and variables only),
        following continuation points."""
        params = ua.BrowseParameters()
        params.View = ua.ViewDescription()
        params.RequestedMaxReferencesPerNode = ua.UInt32(0)
        for nid in ids:
            desc = ua.BrowseDescription()
            desc.NodeId = nid
            desc.BrowseDirection = ua.BrowseDirection.Forward
            desc.ReferenceTypeId = ua.NodeId(ua.Int32(ObjectIds.HierarchicalReferences))
            desc.IncludeSubtypes = True
            desc.NodeClassMask = ua.UInt32(int(ua.NodeClass.Object) | int(ua.NodeClass.Variable))
            desc.ResultMask = ua.UInt32(int(ua.BrowseResultMask.All))
            params.NodesToBrowse.append(desc)
        results: list[ua.BrowseResult] = await self.call(self.client.uaclient.browse(params))
        out: list[list[ua.ReferenceDescription]] = []
        for res in results:
            refs = list(res.References or [])
            cp = res.ContinuationPoint
            while cp:
                nxt = ua.BrowseNextParameters()
                nxt.ContinuationPoints = [cp]
                (more,) = await self.call(self.client.uaclient.browse_next(nxt))
                refs.extend(more.References or [])
                cp = more.ContinuationPoint
            out.append(refs)
        return out

    async def walk(self, start: ua.NodeId) -> None:
        queue: list[tuple[ua.NodeId, list[str], str]] = [(start, [], "")]
        seen: set[ua.NodeId] = {start}
        server = ua.NodeId(ua.Int32(ObjectIds.Server))
        while queue:
            batch, queue = queue[:BROWSE_BATCH], queue[BROWSE_BATCH:]
            refs_per_node = await self.browse([nid for nid, _, _ in batch])
            for (parent, path, parent_display), refs in zip(batch, refs_per_node, strict=True):
                parent_var = self.variables.get(parent)
                for ref in refs:
                    target = ref.NodeId
                    if not ref.IsForward or (getattr(target, "ServerIndex", 0) or 0) != 0:
                        continue
                    nid = ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)
                    name = _text(ref.BrowseName)
                    is_property = ref.ReferenceTypeId == ua.NodeId(ua.Int32(ObjectIds.HasProperty))
                    if is_property:
                        if parent_var is not None and name == "EngineeringUnits":
                            parent_var.unit_node = nid
                        elif parent_var is not None and name == "EURange":
                            parent_var.range_node = nid
                        continue
                    if nid in seen or nid == server:
                        continue
                    if len(seen) >= self.max_nodes:
                        self.result.truncated = True
                        continue
                    seen.add(nid)
                    display = _text(ref.DisplayName) or name
                    child_path = [*path, name]
                    if ref.NodeClass == ua.NodeClass.Variable:
                        self.variables[nid] = _Variable(nid, child_path, display, parent_display)
                    queue.append((nid, child_path, display))
            self.result.visited = len(seen)

    async def read(self, ids: Sequence[ua.NodeId], attr: AttributeIds) -> list[Any]:
        out: list[Any] = []
        for part in _batches(ids, READ_BATCH):
            dvs = await self.call(self.client.read_attributes([self.client.get_node(n) for n in part], attr))
            out.extend(_ok(dv) for dv in dvs)
        return out

    async def propose(self, namespaces: Sequence[str]) -> None:
        candidates = list(self.variables.values())
        ids = [v.nid for v in candidates]
        types = await self.read(ids, AttributeIds.DataType)
        ranks = await self.read(ids, AttributeIds.ValueRank)
        keep: list[tuple[_Variable, str]] = []
        for var, dtype, rank in zip(candidates, types, ranks, strict=True):
            if not isinstance(dtype, ua.NodeId) or dtype.NamespaceIndex != 0:
                continue
            type_name = NUMERIC_TYPES.get(dtype.Identifier) if isinstance(dtype.Identifier, int) else None
            if type_name is None or (isinstance(rank, int) and rank >= 0):  # arrays and matrices
                continue
            keep.append((var, type_name))
        kept = [v for v, _ in keep]
        descriptions = await self.read([v.nid for v in kept], AttributeIds.Description)
        unit_vars = [v for v in kept if v.unit_node is not None]
        range_vars = [v for v in kept if v.range_node is not None]
        units = dict(zip((v.nid for v in unit_vars),
                         await self.read([v.unit_node for v in unit_vars if v.unit_node], AttributeIds.Value),
                         strict=True))
        ranges = dict(zip((v.nid for v in range_vars),
                          await self.read([v.range_node for v in range_vars if v.range_node], AttributeIds.Value),
                          strict=True))
        used: set[str] = set()
        for (var, type_name), desc in zip(keep, descriptions, strict=True):
            unit = units.get(var.nid)
            rng = ranges.get(var.nid)
            low = _finite(rng.Low) if isinstance(rng, ua.Range) else None
            high = _finite(rng.High) if isinstance(rng, ua.Range) else None
            if low is not None and high is not None and low >= high:
                low = high = None
            node = node_string(var.nid, namespaces)
            name = f"{var.parent_display} {var.display}".strip() if var.parent_display else var.display
            self.result.points.append(ProposedPoint(
                node=node, browse_path="/".join(var.path), name=name[:NAME_MAX] or node[:NAME_MAX],
                code=suggest_code(var.path, node, used), data_type=type_name,
                unit=_text(unit.DisplayName)[:UNIT_MAX].strip() if isinstance(unit, ua.EUInformation) else "",
                range_low=low, range_high=high, description=_text(desc)[:500],
            ))


def suggest_code(path: Sequence[str], node: str, used: set[str]) -> str:
    """A point code from the browse name, made unique among ``used`` by prefixing the
    parent's browse name, then by a counter; a stable digest of the node id when the names
    have no ASCII to offer."""
    leaf = sanitize_code(path[-1]) if path else ""
    candidates = [leaf] if leaf else []
    if len(path) >= 2:
        both = sanitize_code(f"{path[-2]}-{path[-1]}")
        if both and both != leaf:
            candidates.append(both)
    if not candidates:
        candidates.append("OPC-" + hashlib.sha1(node.encode()).hexdigest()[:10].upper())
    for c in candidates:
        if c not in used:
            used.add(c)
            return c
    base = candidates[-1][: CODE_MAX - 4]
    n = 2
    while f"{base}-{n}" in used:
        n += 1
    used.add(f"{base}-{n}")
    return f"{base}-{n}"


async def browse_report(endpoint: str, root: str | None = None, max_nodes: int = 5000,
                        timeout: float = 30.0) -> Discovery:
    """Connect, walk from ``root`` (default: the Objects folder, without the Server object)
    and propose a point per numeric or boolean scalar variable."""
    endpoint = check_endpoint(endpoint)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    client = Client(endpoint, timeout=min(timeout, 10.0))
    client.session_timeout = 60_000
    try:
        await asyncio.wait_for(client.connect(), timeout=timeout)
    except asyncio.CancelledError:
        client.disconnect_socket()
        raise
    except Exception as exc:  # OSError, TimeoutError and asyncua's UaError family
        client.disconnect_socket()
        raise DiscoveryError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
    # The walk gets three quarters of the time: reading the attributes of what it found
    # (batched, quick) must still fit, so that a walk cut short still proposes something.
    walk = _Walk(client, max_nodes, loop.time() + 0.75 * (deadline - loop.time()))
    try:
        namespaces = list(await walk.call(client.get_namespace_array()))
        start = ua.NodeId(ua.Int32(ObjectIds.ObjectsFolder)) if not root else parse_node(root, namespaces)
        try:
            await walk.walk(start)
        except TimeoutError:
            walk.result.truncated = True
        walk.deadline = deadline
        try:
            await walk.propose(namespaces)
        except TimeoutError:
            walk.result.truncated = True
    except (TimeoutError, OSError, ConnectionError, UaError) as exc:
        raise DiscoveryError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        await _disconnect(client)
    return walk.result


async def _disconnect(client: Client) -> None:
    """Close the session politely if the server still listens; drop the socket otherwise.
    A failure to close never hides the answer (a cancellation still propagates)."""
    try:
        await asyncio.wait_for(client.disconnect(), timeout=5)
    except Exception:
        client.disconnect_socket()
    except asyncio.CancelledError:
        client.disconnect_socket()
        raise


async def browse(endpoint: str, root: str | None = None, max_nodes: int = 5000,
                 timeout: float = 30.0) -> list[ProposedPoint]:
    """The proposals of :func:`browse_report`."""
    return (await browse_report(endpoint, root, max_nodes, timeout)).points


def proposals_to_points(
    proposals: Iterable[ProposedPoint], accepted_codes: Iterable[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """For the accepted proposals: the device's point-map entries (``OpcUaPoint`` dicts) and
    the measurement points to create (code, name, unit, range_low, range_high)."""
    accepted = set(accepted_codes)
    point_map: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    for p in proposals:
        if p.code not in accepted:
            continue
        point_map.append(OpcUaPoint(point=p.code, node=p.node).model_dump(exclude_defaults=True))
        fields.append({"code": p.code, "name": p.name, "unit": p.unit, "range_low": p.range_low,
                       "range_high": p.range_high})
    return point_map, fields
