from contactsync.pages import render_link_invalid_page


def test_invalid_link_page_speaks_the_visitors_language() -> None:
    assert 'lang="fr"' in render_link_invalid_page("fr")
    assert "Ce lien ne fonctionne plus" in render_link_invalid_page("fr")
    assert "This link no longer works" in render_link_invalid_page("de")


def test_pages_are_mobile_friendly_and_not_indexed() -> None:
    page = render_link_invalid_page("en")
    assert 'name="viewport"' in page
    assert "noindex" in page
