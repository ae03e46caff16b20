"""People, teams, sites, areas and skills: tenant-scoped services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.crud import Ref, TenantCrud
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Area, Certificate, Person, Site, SkillTag, Team


class SiteService(TenantCrud[Site]):
    model = Site
    entity_label = N_("Site")
    write_perm = Perm.WRITE_SITES


class AreaService(TenantCrud[Area]):
    model = Area
    entity_label = N_("Area")
    write_perm = Perm.WRITE_SITES
    refs = (Ref("site_id", Site, N_("site")),)


class SkillService(TenantCrud[SkillTag]):
    model = SkillTag
    entity_label = N_("Skill")
    write_perm = Perm.WRITE_PEOPLE


class TeamService(TenantCrud[Team]):
    model = Team
    entity_label = N_("Team")
    write_perm = Perm.WRITE_TEAMS
    refs = (Ref("area_id", Area, N_("area")), Ref("leader_id", Person, N_("person")))

    def member_counts(self, session: Session, actor: Actor, team_ids: list[int]) -> dict[int, int]:
        if not team_ids:
            return {}
        rows = session.execute(
            select(Person.team_id, func.count())
            .where(Person.enterprise_id == actor.enterprise_id, Person.team_id.in_(team_ids))
            .group_by(Person.team_id)
        ).all()
        return {int(tid): int(n) for tid, n in rows if tid is not None}

    def members(self, session: Session, actor: Actor, team_id: int) -> list[Person]:
        self.get(session, actor, team_id)
        return list(session.scalars(
            select(Person).where(Person.enterprise_id == actor.enterprise_id, Person.team_id == team_id)
            .order_by(Person.employee_no)
        ))


class PersonService(TenantCrud[Person]):
    model = Person
    entity_label = N_("Person")
    write_perm = Perm.WRITE_PEOPLE
    refs = (Ref("team_id", Team, N_("team")),)
    unique_fields = ("employee_no",)
    search_fields = ("employee_no", "name", "job_title", "phone")
    default_order = ("employee_no",)

    def _skills(self, session: Session, enterprise_id: int, codes: list[str]) -> list[SkillTag]:
        wanted = list(dict.fromkeys(codes))
        found = {
            s.code: s
            for s in session.scalars(
                select(SkillTag).where(SkillTag.enterprise_id == enterprise_id, SkillTag.code.in_(wanted))
            )
        }
        missing = [c for c in wanted if c not in found]
        if missing:
            raise ValidationFailed(
                [FieldError("skills", "Unknown skill tag: %(codes)s", {"codes": ", ".join(missing)})]
            )
        return [found[c] for c in wanted]

    def validate(self, session: Session, actor: Actor, merged: dict[str, Any], obj: Person | None) -> None:
        if merged.get("skills"):
            self._skills(session, actor.enterprise_id, merged["skills"])
        errors: list[FieldError] = []
        for i, cert in enumerate(merged.get("certificates") or []):
            issued, expires = cert.get("issued_on"), cert.get("expires_on")
            if issued and expires and expires < issued:
                where = f"certificates.{i}.expires_on"
                errors.append(FieldError(where, "Must not be before the issue date"))
        if errors:
            raise ValidationFailed(errors)

    def apply(self, session: Session, obj: Person, values: dict[str, Any]) -> None:
        values = dict(values)
        skills = values.pop("skills", None)
        certs = values.pop("certificates", None)
        super().apply(session, obj, values)
        if skills is not None:
            obj.skills = self._skills(session, obj.enterprise_id, skills)
        if certs is not None:
            obj.certificates = [Certificate(enterprise_id=obj.enterprise_id, **c) for c in certs]


site_service = SiteService()
area_service = AreaService()
skill_service = SkillService()
team_service = TeamService()
person_service = PersonService()
