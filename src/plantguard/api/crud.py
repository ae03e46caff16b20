"""One router shape for every tenant-scoped CRUD resource.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint signatures at
runtime, and the schema classes are closure variables.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime
from plantguard.core.crud import MAX_LIMIT, TenantCrud
from plantguard.core.permissions import Actor
from plantguard.core.schemas import ID_MAX, PageOut

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Rows to skip")]
ItemId = Annotated[int, Path(ge=1, le=ID_MAX, description="Record id")]
RefId = Annotated[int | None, Query(ge=1, le=ID_MAX)]


async def no_filters() -> dict[str, Any]:
    return {}


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise once: the model is already validated, so FastAPI's second pass through the
    response model (which doubles the cost of a list) is skipped. The response model stays
    declared on the route for the OpenAPI document."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def crud_router(
    *,
    path: str,
    tag: str,
    service: TenantCrud[Any],
    create_schema: type[BaseModel],
    update_schema: type[BaseModel],
    public_schema: type[BaseModel],
    filters: Callable[..., Awaitable[dict[str, Any]]] = no_filters,
    present: Callable[[Session, Actor, Sequence[Any]], list[Any]] | None = None,
) -> APIRouter:
    router = APIRouter(prefix=path, tags=[tag], route_class=GuardedRoute)
    perm = service.write_perm
    page_schema = PageOut[public_schema]  # type: ignore[valid-type]

    def out(session: Session, actor: Actor, items: Sequence[Any]) -> list[Any]:
        if present is not None:
            return present(session, actor, items)
        return [public_schema.model_validate(i) for i in items]

    def list_items(
        request: Request,
        limit: Limit = 50,
        offset: Offset = 0,
        flt: dict[str, Any] = Depends(filters),
        actor: Actor = Depends(current_actor),
        session: Session = Depends(db_session),
    ) -> Any:
        actor.require(service.read_perm)

        def compute() -> bytes:
            page = service.list(session, actor, limit=limit, offset=offset, **flt)
            return page_schema(items=out(session, actor, page.items), total=page.total).model_dump_json().encode()

        key = ("api", path, limit, offset, tuple(sorted(flt.items())), actor.role)
        body = runtime(request).read_cache.through(session, actor.enterprise_id, key, compute)
        return Response(body, media_type="application/json")

    router.add_api_route("", list_items, methods=["GET"], response_model=PageOut[public_schema],  # type: ignore[valid-type]
                         summary=f"List {tag}")

    def read_one(
        item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)
    ) -> Any:
        return model_response(out(session, actor, [service.get(session, actor, item_id)])[0])

    router.add_api_route("/{item_id}", read_one, methods=["GET"], response_model=public_schema,
                         summary=f"Read one of {tag}")

    @requires(perm)
    def create(
        body: create_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(current_actor),
        session: Session = Depends(db_session),
    ) -> Any:
        obj = service.create(acting(session, actor), actor, body)
        result = out(session, actor, [obj])[0]
        session.commit()
        return result

    router.add_api_route("", create, methods=["POST"], response_model=public_schema, status_code=201,
                         summary=f"Create in {tag}")

    @requires(perm)
    def update(
        item_id: ItemId,
        body: update_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(current_actor),
        session: Session = Depends(db_session),
    ) -> Any:
        obj = service.update(acting(session, actor), actor, item_id, body)
        result = out(session, actor, [obj])[0]
        session.commit()
        return result

    router.add_api_route("/{item_id}", update, methods=["PATCH"], response_model=public_schema,
                         summary=f"Update in {tag}")

    @requires(perm)
    def remove(
        item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)
    ) -> Response:
        service.delete(acting(session, actor), actor, item_id)
        session.commit()
        return Response(status_code=204)

    router.add_api_route("/{item_id}", remove, methods=["DELETE"], status_code=204, response_class=Response,
                         summary=f"Delete from {tag}")
    return router
