"""A form read as a lazy mapping holds what parse_qsl reads, key for key."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import example, given
from hypothesis import strategies as st

from phitrace.decode.envelopes import FormDocument

_FORM = st.lists(
    st.tuples(
        st.text(st.sampled_from("ab+%2=&;é"), max_size=6),
        st.text(st.sampled_from("xy+%20C3A9=&é"), max_size=8),
    ),
    max_size=6,
).map(lambda pairs: "&".join(f"{k}={v}" if v else k for k, v in pairs))


@given(_FORM | st.text(max_size=40))
@example("a=1&a=2&b&c=%E9&d+e=f+g")
def test_form_document_reads_as_parse_qsl(text: str) -> None:
    expected = dict(parse_qsl(text, keep_blank_values=True))
    document = FormDocument(text)
    assert document == expected
    assert list(document) == list(expected)
    assert all(document[key] == value and key in document for key, value in expected.items())
