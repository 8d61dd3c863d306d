"""BFCL's checker rules on hand-made cases: each rule passes what it should, fails what it must."""

from __future__ import annotations

from typing import Any

import pytest

from agentsmall.evals import check_call, check_calls, check_irrelevance, has_call, normalise_string


def doc(name: str, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "parameters": {"type": "dict", "properties": properties, "required": required or []},
    }


AREA = doc(
    "geo.area",
    {
        "base": {"type": "integer"},
        "height": {"type": "integer"},
        "unit": {"type": "string"},
    },
    ["base", "height"],
)
AREA_TRUTH = {"geo.area": {"base": [10], "height": [5], "unit": ["units", ""]}}


def verdict(
    call_args: dict[str, Any], d: dict[str, Any] = AREA, truth: dict[str, Any] = AREA_TRUTH
):
    return check_call(d, {d["name"]: call_args}, truth)


# -- names, required, unexpected, omitted ------------------------------------------------------


def test_exact_call_passes() -> None:
    assert verdict({"base": 10, "height": 5})
    assert verdict({"base": 10, "height": 5, "unit": "units"})


def test_function_name_must_match_exactly() -> None:
    v = check_call(AREA, {"geo_area": {"base": 10, "height": 5}}, AREA_TRUTH)
    assert not v and v.error_type == "simple_function_checker:wrong_func_name"


def test_required_parameter_missing_fails() -> None:
    v = verdict({"base": 10})
    assert not v and v.error_type == "simple_function_checker:missing_required"


def test_parameter_not_in_doc_fails() -> None:
    v = verdict({"base": 10, "height": 5, "color": "red"})
    assert not v and v.error_type == "simple_function_checker:unexpected_param"


def test_parameter_in_doc_but_not_in_answer_fails() -> None:
    d = doc("f", {"a": {"type": "integer"}, "b": {"type": "integer"}}, ["a"])
    v = check_call(d, {"f": {"a": 1, "b": 2}}, {"f": {"a": [1]}})
    assert not v and v.error_type == "simple_function_checker:unexpected_param"


def test_omitted_parameter_needs_empty_string_in_answer() -> None:
    d = doc("f", {"a": {"type": "integer"}, "b": {"type": "integer"}}, ["a"])
    assert check_call(d, {"f": {"a": 1}}, {"f": {"a": [1], "b": [2, ""]}})
    v = check_call(d, {"f": {"a": 1}}, {"f": {"a": [1], "b": [2]}})  # optional in the doc
    assert not v and v.error_type == "simple_function_checker:missing_optional"


# -- types ---------------------------------------------------------------------------------------


def test_integer_rejects_float_and_bool() -> None:
    assert not verdict({"base": 10.0, "height": 5})
    v = verdict({"base": True, "height": 5})
    assert not v and v.error_type == "type_error:simple"


def test_float_accepts_int_and_float() -> None:
    d = doc("f", {"x": {"type": "float"}}, ["x"])
    truth = {"f": {"x": [2.5, 2.0]}}
    assert check_call(d, {"f": {"x": 2}}, truth)
    assert check_call(d, {"f": {"x": 2.5}}, truth)
    assert not check_call(d, {"f": {"x": "2.5"}}, truth)
    assert not check_call(d, {"f": {"x": 3}}, truth)  # right type, wrong value


def test_boolean_must_be_bool() -> None:
    d = doc("f", {"flag": {"type": "boolean"}}, ["flag"])
    assert check_call(d, {"f": {"flag": True}}, {"f": {"flag": [True]}})
    assert not check_call(d, {"f": {"flag": 1}}, {"f": {"flag": [True]}})
    assert not check_call(d, {"f": {"flag": "true"}}, {"f": {"flag": [True]}})


def test_string_and_any_must_be_str() -> None:
    for kind in ("string", "any"):
        d = doc("f", {"s": {"type": kind}}, ["s"])
        assert check_call(d, {"f": {"s": "x"}}, {"f": {"s": ["x"]}})
        assert not check_call(d, {"f": {"s": 5}}, {"f": {"s": ["x"]}})


def test_array_and_tuple_must_be_lists_with_typed_items() -> None:
    for kind in ("array", "tuple"):
        d = doc("f", {"xs": {"type": kind, "items": {"type": "integer"}}}, ["xs"])
        assert check_call(d, {"f": {"xs": [1, 2]}}, {"f": {"xs": [[1, 2]]}})
        assert not check_call(d, {"f": {"xs": "1, 2"}}, {"f": {"xs": [[1, 2]]}})
        # Wrong item types fail. (As in BFCL, a list that fails the item check is then taken
        # as a "variable" of the answer's type and compared directly, and fails there.)
        assert not check_call(d, {"f": {"xs": ["1", "2"]}}, {"f": {"xs": [[1, 2]]}})
    d = doc("f", {"xs": {"type": "tuple", "items": {"type": "integer"}}}, ["xs"])
    assert check_call(d, {"f": {"xs": (1, 2)}}, {"f": {"xs": [[1, 2]]}})  # a tuple becomes a list


def test_dict_must_be_dict() -> None:
    d = doc("f", {"d": {"type": "dict"}}, ["d"])
    assert check_call(d, {"f": {"d": {"k": "v"}}}, {"f": {"d": [{"k": ["v"]}]}})
    assert not check_call(d, {"f": {"d": [["k", "v"]]}}, {"f": {"d": [{"k": ["v"]}]}})


def test_variable_written_as_string_is_accepted_by_the_answers_type() -> None:
    # The doc says dict, the ground truth holds a variable name (a str): a str is accepted and
    # compared directly (no normalisation), a dict is still accepted by the declared type.
    d = doc("f", {"config": {"type": "dict"}}, ["config"])
    truth = {"f": {"config": ["my_config"]}}
    assert check_call(d, {"f": {"config": "my_config"}}, truth)
    assert not check_call(d, {"f": {"config": "My Config"}}, truth)  # no normalisation
    assert not check_call(d, {"f": {"config": 3}}, truth)


# -- values ----------------------------------------------------------------------------------------


def test_string_normalisation() -> None:
    assert normalise_string("April 1, 2024") == normalise_string("april 1 2024")
    assert normalise_string("New-York_City/*^.") == "newyorkcity"
    assert normalise_string("it's") == 'it"s'
    d = doc("f", {"date": {"type": "string"}}, ["date"])
    truth = {"f": {"date": ["April 1, 2024"]}}
    assert check_call(d, {"f": {"date": "april 1 2024"}}, truth)
    assert check_call(d, {"f": {"date": "APRIL-1-2024"}}, truth)
    v = check_call(d, {"f": {"date": "2024-04-01"}}, truth)  # no semantic matching
    assert not v and v.error_type == "value_error:string"
    assert not check_call(d, {"f": {"date": "April 1, 2024!"}}, truth)  # '!' is not removed


def test_numbers_compare_with_python_equality() -> None:
    d = doc("f", {"n": {"type": "float"}}, ["n"])
    assert check_call(d, {"f": {"n": 2000}}, {"f": {"n": [2000]}})
    assert check_call(d, {"f": {"n": 2000.0}}, {"f": {"n": [2000]}})
    v = check_call(d, {"f": {"n": 2001}}, {"f": {"n": [2000]}})
    assert not v and v.error_type == "value_error:others"


def test_list_must_equal_an_allowed_list_in_order_with_normalised_strings() -> None:
    d = doc("f", {"xs": {"type": "array", "items": {"type": "string"}}}, ["xs"])
    truth = {"f": {"xs": [["New York", "Paris"], ["NYC", "Paris"]]}}
    assert check_call(d, {"f": {"xs": ["new york", "PARIS"]}}, truth)
    assert check_call(d, {"f": {"xs": ["nyc", "paris"]}}, truth)
    v = check_call(d, {"f": {"xs": ["Paris", "New York"]}}, truth)  # order matters
    assert not v and v.error_type == "value_error:list/tuple"
    assert not check_call(d, {"f": {"xs": ["New York"]}}, truth)


def test_dict_rules() -> None:
    d = doc("f", {"guests": {"type": "dict"}}, ["guests"])
    truth = {"f": {"guests": [{"adults": [2], "children": [1, ""], "name": ["Ann Lee"]}]}}
    assert check_call(d, {"f": {"guests": {"adults": 2, "children": 1, "name": "ann lee"}}}, truth)
    assert check_call(d, {"f": {"guests": {"adults": 2, "name": "Ann Lee"}}}, truth)  # omittable
    v = check_call(d, {"f": {"guests": {"adults": 2, "name": "Ann Lee", "pets": 1}}}, truth)
    assert not v and v.error_type == "value_error:dict_key"  # key not allowed
    v = check_call(d, {"f": {"guests": {"adults": 3, "name": "Ann Lee"}}}, truth)
    assert not v and v.error_type == "value_error:dict_value"
    v = check_call(d, {"f": {"guests": {"adults": 2}}}, truth)  # "name" may not be left out
    assert not v and v.error_type == "value_error:dict_key"


def test_list_of_dicts_same_count_same_order() -> None:
    d = doc(
        "f",
        {"rows": {"type": "array", "items": {"type": "dict"}}},
        ["rows"],
    )
    truth = {"f": {"rows": [[{"k": ["a"]}, {"k": ["b"]}]]}}
    assert check_call(d, {"f": {"rows": [{"k": "a"}, {"k": "B"}]}}, truth)
    assert not check_call(d, {"f": {"rows": [{"k": "b"}, {"k": "a"}]}}, truth)
    v = check_call(d, {"f": {"rows": [{"k": "a"}]}}, truth)
    assert not v and v.error_type == "value_error:list_dict_count"


# -- categories ----------------------------------------------------------------------------------


def test_simple_needs_exactly_one_call() -> None:
    call = {"geo.area": {"base": 10, "height": 5}}
    assert check_calls("simple_python", [AREA], [call], [AREA_TRUTH])
    v = check_calls("simple_python", [AREA], [call, call], [AREA_TRUTH])
    assert not v and v.error_type == "simple_function_checker:wrong_count"
    assert not check_calls("simple_python", [AREA], [], [AREA_TRUTH])


def test_output_must_be_in_call_format() -> None:
    for bad in ("geo.area(base=10)", [{"geo.area": 1}], [{"a": {}, "b": {}}], {"geo.area": {}}):
        v = check_calls("simple_python", [AREA], bad, [AREA_TRUTH])
        assert not v and v.error_type == "ast_decoder:decoder_wrong_output_format"


def test_multiple_checks_against_the_expected_function() -> None:
    other = doc("geo.volume", {"base": {"type": "integer"}}, ["base"])
    docs = [other, AREA]  # the expected function is not the first doc
    assert check_calls("multiple", docs, [{"geo.area": {"base": 10, "height": 5}}], [AREA_TRUTH])
    v = check_calls("multiple", docs, [{"geo.volume": {"base": 10}}], [AREA_TRUTH])
    assert not v and v.error_type == "simple_function_checker:wrong_func_name"


PLAY = doc("play", {"artist": {"type": "string"}, "minutes": {"type": "integer"}}, ["artist"])
PLAY_TRUTH = [
    {"play": {"artist": ["Taylor Swift"], "minutes": [20]}},
    {"play": {"artist": ["Maroon 5"], "minutes": [15]}},
]


def test_parallel_matches_in_any_order() -> None:
    a = {"play": {"artist": "Taylor Swift", "minutes": 20}}
    b = {"play": {"artist": "maroon 5", "minutes": 15}}
    assert check_calls("parallel", [PLAY], [a, b], PLAY_TRUTH)
    assert check_calls("parallel", [PLAY], [b, a], PLAY_TRUTH)
    v = check_calls("parallel", [PLAY], [a], PLAY_TRUTH)
    assert not v and v.error_type == "parallel_function_checker:wrong_count"
    v = check_calls("parallel", [PLAY], [a, a], PLAY_TRUTH)  # one call cannot match twice
    assert not v and v.error_type == "parallel_function_checker_no_order:cannot_find_match"


def test_parallel_matching_is_greedy() -> None:
    # The first expected call takes the first model call that fits it, even when a later
    # expected call needed that one: BFCL does not search for the best assignment.
    d = doc("f", {"x": {"type": "integer"}}, [])
    truth = [{"f": {"x": [1, ""]}}, {"f": {"x": [1]}}]
    assert not check_calls("parallel", [d], [{"f": {"x": 1}}, {"f": {}}], truth)
    assert check_calls("parallel", [d], [{"f": {}}, {"f": {"x": 1}}], truth)


def test_parallel_multiple_uses_each_expected_functions_doc() -> None:
    docs = [AREA, PLAY]
    truth = [AREA_TRUTH, PLAY_TRUTH[0]]
    calls = [
        {"play": {"artist": "Taylor Swift", "minutes": 20}},
        {"geo.area": {"base": 10, "height": 5}},
    ]
    assert check_calls("parallel_multiple", docs, calls, truth)
    calls[1] = {"geo.area": {"base": 10, "height": 6}}
    assert not check_calls("parallel_multiple", docs, calls, truth)


def test_irrelevance_needs_a_valid_answer_without_calls() -> None:
    assert check_irrelevance(valid=True, calls=[])
    v = check_irrelevance(valid=True, calls=[{"geo.area": {"base": 1}}])
    assert not v and v.error_type == "irrelevance:called_a_function"
    v = check_irrelevance(valid=False, calls=None)  # cut off or unparsable: not an abstention
    assert not v and v.error_type == "irrelevance:invalid_output"


def test_bfcl_relevance_rule_for_reference() -> None:
    assert not has_call([])
    assert not has_call([{}])
    assert not has_call("some prose")
    assert not has_call([{"f": 1}])  # not in call format
    assert has_call([{"f": {}}])
    assert has_call([{"f": {"x": 1}}, {"g": {}}])


@pytest.mark.parametrize("category", ["simple_python", "live_simple"])
def test_simple_categories_use_the_first_doc(category: str) -> None:
    assert check_calls(category, [AREA], [{"geo.area": {"base": 10, "height": 5}}], [AREA_TRUTH])
