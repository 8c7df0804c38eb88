import pytest

from guru_mcp.errors import RunFailure
from guru_mcp.templating import fill_body, fill_header, fill_url


def test_path_and_query_values_are_percent_encoded_whole():
    url = fill_url("https://api.example.com/users/{u}?q={q}", {"u": "../admin?x=1", "q": "a&b=c#d"})
    assert url == "https://api.example.com/users/..%2Fadmin%3Fx%3D1?q=a%26b%3Dc%23d"


def test_a_host_placeholder_must_hold_a_host_name():
    assert fill_url("https://{d}.atlassian.net/x", {"d": "acme"}) == "https://acme.atlassian.net/x"
    with pytest.raises(RunFailure, match="not a valid host name"):
        fill_url("https://{d}.atlassian.net/x", {"d": "evil.example/#"})


def test_a_leading_placeholder_is_a_base_url():
    assert (
        fill_url("{BASE}/v1/{id}", {"BASE": "https://h.example/api/", "id": 7})
        == "https://h.example/api/v1/7"
    )
    with pytest.raises(RunFailure, match="absolute http"):
        fill_url("{BASE}/v1", {"BASE": "file:///etc/passwd"})


def test_header_values_with_line_breaks_are_refused():
    assert fill_header("Authorization", "Bearer {T}", {"T": "abc"}) == "Bearer abc"
    with pytest.raises(RunFailure, match="line break"):
        fill_header("X-User", "{u}", {"u": "bob\r\nX-Admin: 1"})


def test_body_placeholders_keep_types_and_escape_text():
    body = {"n": "{n}", "flag": "{f}", "text": "say {s}", "list": ["{n}"], "nested": {"x": "{missing}"}}
    filled = fill_body(body, {"n": 42, "f": False, "s": 'he said "}{" ok'})
    assert filled == {
        "n": 42,
        "flag": False,
        "text": 'say he said "}{" ok',
        "list": [42],
        "nested": {"x": None},
    }


def test_values_are_never_expanded_again():
    values = {"q": "{SECRET}", "SECRET": "sk-should-not-appear"}
    assert fill_url("https://a.example/{q}", values) == "https://a.example/%7BSECRET%7D"
    assert fill_header("X", "{q}", values) == "{SECRET}"
    assert fill_body({"a": "x {q}", "b": "{q}"}, values) == {"a": "x {SECRET}", "b": "{SECRET}"}
