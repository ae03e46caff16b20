"""/api/v1/me/notifications, /me/notification-preferences (the caller's own rows, any role),
/notification-channels, /notification-rules and /notifications/dead-letter
(``notifications.manage``).

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
"""

from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, Limit, Offset, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.permissions import Actor, Perm
from plantguard.notifications import service
from plantguard.notifications.schemas import (
    ChannelIn,
    ChannelPublic,
    DeadLetterPage,
    DeadLetterPublic,
    FeedOut,
    NotificationPublic,
    PreferencesIn,
    PreferencesOut,
    RulesIn,
    RulesOut,
)

router = APIRouter(tags=["notifications"], route_class=GuardedRoute)


@router.get("/me/notifications", response_model=FeedOut, summary="My in-app notifications, newest first")
def my_feed(limit: Limit = 50, offset: Offset = 0, unread: bool = False, actor: Actor = Depends(current_actor),
            session: Session = Depends(db_session)) -> Any:
    items, total, n_unread = service.feed(session, actor, limit=limit, offset=offset, unread_only=unread)
    return model_response(FeedOut(items=[NotificationPublic.model_validate(i) for i in items], total=total,
                                  unread=n_unread))


@router.post("/me/notifications/{item_id}/read", response_model=NotificationPublic, summary="Mark one as read")
def read_one(item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    row = service.mark_read(session, actor, item_id)
    out = NotificationPublic.model_validate(row)
    session.commit()
    return model_response(out)


@router.post("/me/notifications/read-all", summary="Mark all my notifications as read")
def read_all(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    n = service.mark_all_read(session, actor)
    session.commit()
    return {"marked": n}


@router.get("/me/notification-preferences", response_model=PreferencesOut, summary="My notification preferences")
def get_prefs(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return service.get_preferences(session, actor)


@router.put("/me/notification-preferences", response_model=PreferencesOut,
            summary="Set my channels per event type, quiet hours and timezone")
def put_prefs(body: PreferencesIn, actor: Actor = Depends(current_actor),
              session: Session = Depends(db_session)) -> Any:
    out = service.put_preferences(session, actor, body)
    session.commit()
    return out


@router.get("/notification-channels", response_model=list[ChannelPublic], summary="Channels (secrets masked)")
def list_channels(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return [service.channel_out(c) for c in service.list_channels(session, actor)]


@router.post("/notification-channels", response_model=ChannelPublic, status_code=201, summary="Add a channel")
@requires(Perm.MANAGE_NOTIFICATIONS)
def create_channel(body: ChannelIn, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    out = service.channel_out(service.create_channel(acting(session, actor), actor, body))
    session.commit()
    return model_response(out, 201)


@router.put("/notification-channels/{item_id}", response_model=ChannelPublic,
            summary="Change a channel (omit secret to keep it)")
@requires(Perm.MANAGE_NOTIFICATIONS)
def update_channel(item_id: ItemId, body: ChannelIn, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    out = service.channel_out(service.update_channel(acting(session, actor), actor, item_id, body))
    session.commit()
    return out


@router.delete("/notification-channels/{item_id}", status_code=204, summary="Delete a channel")
@requires(Perm.MANAGE_NOTIFICATIONS)
def delete_channel(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Response:
    service.delete_channel(acting(session, actor), actor, item_id)
    session.commit()
    return Response(status_code=204)


@router.get("/notification-rules", response_model=RulesOut, summary="Who gets what (defaults when none saved)")
def get_rules(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return service.get_rules(session, actor)


@router.put("/notification-rules", response_model=RulesOut, summary="Replace the rules ([] restores defaults)")
@requires(Perm.MANAGE_NOTIFICATIONS)
def put_rules(body: RulesIn, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    out = service.put_rules(acting(session, actor), actor, body)
    session.commit()
    return out


@router.get("/notifications/dead-letter", response_model=DeadLetterPage, summary="Messages that could not be sent")
def dead_letter(limit: Limit = 50, offset: Offset = 0, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    items, total = service.dead_letters(session, actor, limit=limit, offset=offset)
    return model_response(DeadLetterPage(items=[DeadLetterPublic.model_validate(i) for i in items], total=total))


@router.post("/notifications/dead-letter/{item_id}/retry", response_model=DeadLetterPublic,
             summary="Send a dead letter again")
@requires(Perm.MANAGE_NOTIFICATIONS)
def retry(item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    out = DeadLetterPublic.model_validate(service.retry_dead(session, actor, item_id))
    session.commit()
    return out
