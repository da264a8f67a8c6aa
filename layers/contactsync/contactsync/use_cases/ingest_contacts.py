"""Ingest: authenticate the source, validate each contact, store it, queue the change."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.contact import Contact, ContactProfile, SubscriptionStatus, identity_key_for, utc_now
from contactsync.domain.identity import InvalidIdentity, normalise_email, normalise_phone
from contactsync.domain.source import ConsentMode, Source
from contactsync.errors import AuthenticationFailed, FieldProblem, ServiceUnavailable, SourceNotFound
from contactsync.models.webhook import ContactSubmission
from contactsync.ports import ChangePublisher, ContactRepository, SourceRepository

SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class ContactOutcome:
    index: int
    contact_id: str | None = None
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class IngestOutcome:
    outcomes: list[ContactOutcome]
    changes: list[ContactChange]


class IngestContacts:
    def __init__(
        self,
        sources: SourceRepository,
        contacts: ContactRepository,
        publisher: ChangePublisher,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._sources = sources
        self._contacts = contacts
        self._publisher = publisher
        self._clock = clock
        self._new_id = new_id

    def authenticate(self, source_id: str, bearer_token: str | None) -> Source:
        """The enabled source that owns this token; unknown and disabled sources look alike (404)."""
        source = self._sources.get(source_id)
        if source is None or not source.enabled:
            raise SourceNotFound
        if not bearer_token or not source.accepts_token(bearer_token):
            raise AuthenticationFailed
        return source

    def execute(self, source: Source, submissions: Sequence[ContactSubmission]) -> IngestOutcome:
        """Store every valid submission, then queue all changes in batches.

        Contacts are stored before the changes are queued; if queueing fails the
        request fails (503) and the sender retries, which is safe because an
        unchanged contact produces no new change.
        """
        outcomes: list[ContactOutcome] = []
        changes: list[ContactChange] = []
        for index, submission in enumerate(submissions):
            try:
                profile = to_profile(submission, source)
            except ProfileRejected as rejected:
                outcomes.append(ContactOutcome(index=index, problems=rejected.problems))
                continue
            contact, change = self._save(profile, source)
            outcomes.append(ContactOutcome(index=index, contact_id=contact.contact_id))
            if change is not None:
                changes.append(change)
        if changes:
            self._publisher.publish(changes)
        return IngestOutcome(outcomes=outcomes, changes=changes)

    def _save(self, profile: ContactProfile, source: Source) -> tuple[Contact, ContactChange | None]:
        identity = identity_key_for(profile)
        for _ in range(SAVE_ATTEMPTS):
            now = self._clock()
            existing = self._contacts.find_by_identity(identity)
            if existing is None:
                created = Contact(
                    contact_id=self._new_id(),
                    identity_key=identity,
                    profile=profile,
                    status=initial_status(source),
                    source_id=source.source_id,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                if self._contacts.create(created):
                    return created, ContactChange(
                        contact_id=created.contact_id, version=1, kind=ChangeKind.CREATED, occurred_at=now
                    )
                continue  # someone claimed the identity meanwhile: read it and merge
            merged = merge_profile(existing.profile, profile)
            if merged == existing.profile:
                return existing, None
            updated = existing.with_profile(merged, now)
            if self._contacts.update(updated, expected_version=existing.version):
                return updated, ContactChange(
                    contact_id=updated.contact_id,
                    version=updated.version,
                    kind=ChangeKind.UPDATED,
                    occurred_at=now,
                )
        raise ServiceUnavailable("the contact is being changed by other requests")


class ProfileRejected(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("contact rejected")
        self.problems = problems


def initial_status(source: Source) -> SubscriptionStatus:
    """A new contact waits for confirmation unless the source only sends data or has consent on file."""
    match source.consent_mode:
        case ConsentMode.DOUBLE_OPT_IN:
            return SubscriptionStatus.PENDING
        case ConsentMode.CONSENT_ON_FILE:
            return SubscriptionStatus.SUBSCRIBED
        case ConsentMode.DATA_ONLY:
            return SubscriptionStatus.NOT_SUBSCRIBED


def to_profile(submission: ContactSubmission, source: Source) -> ContactProfile:
    """Map an inbound submission to the canonical profile, collecting every problem."""
    problems: list[FieldProblem] = []
    email = phone = None
    if submission.email:
        try:
            email = normalise_email(submission.email)
        except InvalidIdentity as error:
            problems.append(FieldProblem("email", str(error)))
    if submission.phone:
        try:
            phone = normalise_phone(submission.phone)
        except InvalidIdentity as error:
            problems.append(FieldProblem("phone", str(error)))
    if not problems and email is None and phone is None:
        problems.append(FieldProblem("email", "an email or a phone is required"))
    extras = {key: str(value) for key, value in (submission.model_extra or {}).items() if value is not None}
    if problems:
        raise ProfileRejected(problems)
    try:
        return ContactProfile(
            email=email,
            phone=phone,
            first_name=submission.first_name or None,
            last_name=submission.last_name or None,
            language=(submission.language or source.default_language).lower()[:2],
            custom_attributes=extras,
        )
    except ValidationError as error:
        raise ProfileRejected(
            [FieldProblem(".".join(str(p) for p in issue["loc"]), issue["msg"]) for issue in error.errors()]
        ) from None


def merge_profile(current: ContactProfile, incoming: ContactProfile) -> ContactProfile:
    """Fields the request carries replace stored ones; fields it omits are kept."""
    sent = incoming.model_dump(exclude_unset=True, exclude_none=True)
    sent.pop("custom_attributes", None)
    attributes = {**current.custom_attributes, **incoming.custom_attributes}
    return current.model_copy(update={**sent, "custom_attributes": attributes})
