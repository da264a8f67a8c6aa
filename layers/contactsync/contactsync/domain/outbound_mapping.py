"""From a contact to what one destination should hold: selection, status and field mapping.

Skeepers' rule and Cobot's two faults shape it: an opted-out contact is never
sent as subscribed, a contact that leaves a destination's selection is told to
stop (unsubscribed) rather than forgotten, and an email change travels as a
change of address of the same member.
"""

from __future__ import annotations

from typing import Any

from contactsync.domain.change import ChangeKind
from contactsync.domain.contact import Contact, SubscriptionStatus
from contactsync.domain.delivery import MemberStatus, OutboundItem
from contactsync.domain.destination import Destination, DestinationType
from contactsync.domain.push_state import PushState, content_sha256
from contactsync.models.destination_payloads import WebhookContact

STATUS_FOR: dict[SubscriptionStatus, MemberStatus] = {
    SubscriptionStatus.SUBSCRIBED: MemberStatus.SUBSCRIBED,
    SubscriptionStatus.PENDING: MemberStatus.PENDING,
    SubscriptionStatus.UNSUBSCRIBED: MemberStatus.UNSUBSCRIBED,
    SubscriptionStatus.NOT_SUBSCRIBED: MemberStatus.NOT_SUBSCRIBED,
}


def mapped_fields(destination: Destination, contact: Contact) -> dict[str, Any]:
    profile = contact.profile
    fields: dict[str, Any] = {}
    for canonical, target in destination.field_mapping.items():
        if canonical.startswith("custom."):
            value: Any = profile.custom_attributes.get(canonical.removeprefix("custom."))
        elif canonical == "address":
            address = profile.address
            value = (
                {
                    "addr1": address.street or "",
                    "city": address.city or "",
                    "state": address.region or "",
                    "zip": address.postal_code or "",
                    "country": address.country or "",
                }
                if address and address.street and address.city
                else None
            )
        else:
            value = getattr(profile, canonical, None)
        if value not in (None, ""):
            fields[target] = value
    return fields


def outbound_item(
    destination: Destination, kind: ChangeKind, version: int, contact: Contact | None, state: PushState | None
) -> OutboundItem | None:
    """What to send for this change, or None when this destination has nothing to do with it."""
    if contact is None:
        if state is None or state.remote_id is None:
            return None  # never pushed there: nothing to erase
        return OutboundItem(
            contact_id=state.contact_id,
            version=version,
            kind=ChangeKind.ERASED,
            previous_remote_id=state.remote_id,
            status=MemberStatus.UNSUBSCRIBED,
            erase=True,
            document={"id": state.contact_id},
        )
    if destination.type is DestinationType.MAILCHIMP and not contact.profile.email:
        return None  # an audience member needs an address
    pushed_before = state is not None and state.remote_id is not None
    status = STATUS_FOR[contact.status]
    if not destination.concerns(contact):
        if not pushed_before or contact.status is SubscriptionStatus.PENDING:
            return None
        status = MemberStatus.UNSUBSCRIBED  # it left the selection: the destination must stop mailing it
    elif status is MemberStatus.NOT_SUBSCRIBED and pushed_before:
        status = MemberStatus.UNSUBSCRIBED  # e.g. implied consent lapsed
    profile = contact.profile
    document = WebhookContact.from_contact(contact).model_dump(mode="json")
    return OutboundItem(
        contact_id=contact.contact_id,
        version=contact.version,
        kind=kind,
        email=profile.email,
        previous_remote_id=state.remote_id if state else None,
        status=status,
        fields=mapped_fields(destination, contact),
        tags=profile.tags,
        document=document,
    )


def item_sha256(item: OutboundItem) -> str:
    """What the destination would hold after this item; unchanged content is not sent again."""
    return content_sha256(
        {
            "email": item.email,
            "status": item.status.value,
            "fields": item.fields,
            "tags": list(item.tags),
            "erase": item.erase,
        }
    )
