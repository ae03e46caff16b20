"""``GET /api/v1/permits/{id}/pdf``: one permit in the GB 30871-2022 Appendix A layout.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
A read (``Perm.READ``, tenant-scoped: another enterprise's permit is 404). Rendering runs in
FastAPI's thread pool (a sync endpoint), never on the event loop.
"""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId
from plantguard.api.deps import GuardedRoute, current_actor, db_session, runtime
from plantguard.core.permissions import Actor
from plantguard.permits import pdf

router = APIRouter(tags=["permits"], route_class=GuardedRoute)


@router.get("/permits/{item_id}/pdf", summary="A permit as PDF (GB 30871-2022 Appendix A layout, CJK font embedded)",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def permit_pdf(item_id: ItemId, request: Request, actor: Actor = Depends(current_actor),
               session: Session = Depends(db_session)) -> Any:
    number, data = pdf.permit_pdf(session, actor, item_id, runtime(request).settings.var_dir)
    safe = "".join(c for c in number if c.isalnum() or c in "-_") or str(item_id)
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="permit-{safe}.pdf"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store"})
