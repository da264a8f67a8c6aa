from contactsync_ops.openapi_document import DOCUMENT_PATH, build_openapi, render_openapi


def test_committed_openapi_document_is_current() -> None:
    # Given the routes as the code declares them / When the document is generated
    # Then it equals docs/openapi.json (regenerate with `contactsync openapi --write`)
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render_openapi(), "docs/openapi.json is stale"


def test_document_lists_every_route_and_error_status() -> None:
    document = build_openapi()
    assert set(document["paths"]) == {
        "/v1/sources/{source_id}/contacts",
        "/v1/confirm/{token}",
        "/v1/unsubscribe/{token}",
    }
    statuses = set(document["paths"]["/v1/sources/{source_id}/contacts"]["post"]["responses"])
    assert {"202", "400", "401", "404", "413", "415", "422", "429"} <= statuses
