"""/api/v1/people, /teams, /skills, /sites, /areas, /auth, /users."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from plantguard.api.crud import Limit, Offset, RefId, crud_router, model_response
from plantguard.api.deps import (
    GuardedRoute,
    acting,
    bearer_token,
    current_actor,
    db_session,
    forget_token,
    requires,
    runtime,
)
from plantguard.assets.api import Search
from plantguard.core.permissions import Actor, Perm, Role
from plantguard.core.schemas import PageOut, Text
from plantguard.tenancy import auth
from plantguard.tenancy.schemas import (
    AreaPublic,
    PersonCreate,
    PersonPublic,
    PersonUpdate,
    SitePublic,
    SkillCreate,
    SkillPublic,
    SkillUpdate,
    TeamCreate,
    TeamPublic,
    TeamUpdate,
    TokenOut,
    UserCreate,
    UserPublic,
)
from plantguard.tenancy.service import area_service, person_service, site_service, skill_service, team_service

# Declared so that OpenAPI documents the bearer scheme and its token URL.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def people_filters(team_id: RefId = None, active: bool | None = None, q: Search = None) -> dict[str, Any]:
    return {"team_id": team_id, "active": active, "q": q}


async def team_filters(
    area_id: RefId = None, shift: Literal["day", "A", "B", "C", "D"] | None = None, q: Search = None
) -> dict[str, Any]:
    return {"area_id": area_id, "shift": shift, "q": q}


def present_teams(session: Session, actor: Actor, items: Sequence[Any]) -> list[Any]:
    counts = team_service.member_counts(session, actor, [t.id for t in items])
    return [TeamPublic.model_validate(t).model_copy(update={"member_count": counts.get(t.id, 0)}) for t in items]


router = APIRouter()
router.include_router(crud_router(
    path="/people", tag="people", service=person_service, create_schema=PersonCreate,
    update_schema=PersonUpdate, public_schema=PersonPublic, filters=people_filters,
))
router.include_router(crud_router(
    path="/teams", tag="teams", service=team_service, create_schema=TeamCreate,
    update_schema=TeamUpdate, public_schema=TeamPublic, filters=team_filters, present=present_teams,
))
router.include_router(crud_router(
    path="/skills", tag="skills", service=skill_service, create_schema=SkillCreate,
    update_schema=SkillUpdate, public_schema=SkillPublic,
))

readonly = APIRouter(route_class=GuardedRoute)


@readonly.get("/sites", response_model=PageOut[SitePublic], tags=["sites"])
def list_sites(limit: Limit = 50, offset: Offset = 0, actor: Actor = Depends(current_actor),
               session: Session = Depends(db_session)) -> Any:
    page = site_service.list(session, actor, limit=limit, offset=offset)
    items = [SitePublic.model_validate(s) for s in page.items]
    return model_response(PageOut[SitePublic](items=items, total=page.total))


@readonly.get("/areas", response_model=PageOut[AreaPublic], tags=["sites"])
def list_areas(limit: Limit = 50, offset: Offset = 0, site_id: RefId = None,
               actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = area_service.list(session, actor, limit=limit, offset=offset, site_id=site_id)
    items = [AreaPublic.model_validate(a) for a in page.items]
    return model_response(PageOut[AreaPublic](items=items, total=page.total))


router.include_router(readonly)

auth_router = APIRouter(prefix="/auth", tags=["auth"], route_class=GuardedRoute)


@auth_router.post("/token", response_model=TokenOut, summary="Sign in with the OAuth2 password form")
def token(
    request: Request,
    username: Annotated[Text, Form(min_length=1, max_length=80)],
    password: Annotated[str, Form(min_length=1, max_length=200)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=200)] = "",
    session: Session = Depends(db_session),
) -> Any:
    rt = runtime(request)
    user = auth.authenticate(session, username, password)
    ttl = timedelta(hours=rt.settings.token_ttl_hours)
    issued = auth.issue(session, user, "api", ttl)
    session.commit()
    return TokenOut(access_token=issued.token, expires_in=int(ttl.total_seconds()))


@auth_router.post("/revoke", status_code=204, summary="Sign out: revoke the bearer token used")
def revoke(request: Request, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session), _t: str | None = Depends(oauth2_scheme)) -> None:
    tok = bearer_token(request)
    if tok:
        auth.revoke(session, tok)
        forget_token(request, tok)
        session.commit()


@auth_router.get("/me", response_model=UserPublic, summary="The signed-in account")
def me(actor: Actor = Depends(current_actor), session: Session = Depends(db_session),
       _t: str | None = Depends(oauth2_scheme)) -> Any:
    from plantguard.tenancy.models import User

    return UserPublic.model_validate(session.get(User, actor.user_id))


users_router = APIRouter(prefix="/users", tags=["users"], route_class=GuardedRoute)


@users_router.post("", response_model=UserPublic, status_code=201, summary="Create an account")
@requires(Perm.MANAGE_USERS)
def create_user(body: UserCreate, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    user = auth.create_user(
        acting(session, actor), enterprise_id=actor.enterprise_id, username=body.username,
        password=body.password, role=Role(body.role), display_name=body.display_name,
        person_id=body.person_id, actor=actor,
    )
    session.commit()
    return UserPublic.model_validate(user)
