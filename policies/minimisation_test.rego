package broker.minimisation_test

import data.broker.fixtures_test as f
import data.broker.minimisation

codes(violations) := {v.code | some v in violations}

with_filters(filters) := f.with_request(f.criminal_identify, {"filters": filters})

test_no_filters_permitted if {
	minimisation.filters_permitted with input as f.criminal_identify
	count(minimisation.violations) == 0 with input as f.criminal_identify
}

test_missing_filters_permitted if {
	minimisation.filters_permitted with input as json.remove(f.criminal_identify, ["request/filters"])
}

test_source_agency_filter_permitted if {
	minimisation.filters_permitted with input as with_filters({"source_agency": "or-fusion"})
}

test_protected_attribute_filter_denied if {
	every attribute in ["race", "ethnicity", "religion", "national_origin", "sex", "sexual_orientation", "gender_identity"] {
		not minimisation.filters_permitted with input as with_filters({attribute: "x"})
		codes(minimisation.violations) == {"protected_attribute_filter"} with input as with_filters({attribute: "x"})
	}
}

test_protected_attribute_in_other_case_denied if {
	not minimisation.filters_permitted with input as with_filters({"Race": "x"})
	codes(minimisation.violations) == {"protected_attribute_filter"} with input as with_filters({"Race": "x"})
}

test_unsupported_filter_denied if {
	not minimisation.filters_permitted with input as with_filters({"eye_colour": "blue"})
	codes(minimisation.violations) == {"unsupported_filter"} with input as with_filters({"eye_colour": "blue"})
}

test_protected_filter_hidden_among_allowed_ones_denied if {
	doc := with_filters({"source_agency": "us-fbi", "religion": "x"})
	not minimisation.filters_permitted with input as doc
	codes(minimisation.violations) == {"protected_attribute_filter"} with input as doc
}

test_empty_filter_value_denied if {
	not minimisation.filters_permitted with input as with_filters({"source_agency": ""})
	codes(minimisation.violations) == {"invalid_filter_value"} with input as with_filters({"source_agency": ""})
}

test_filters_not_an_object_denied if {
	not minimisation.filters_permitted with input as with_filters(["source_agency"])
	codes(minimisation.violations) == {"invalid_filters"} with input as with_filters(["source_agency"])
}

test_max_results_valid if {
	minimisation.max_results_valid with input as f.criminal_identify
}

test_invalid_max_results_denied if {
	every n in [0, -3, 2.5, "10", null] {
		not minimisation.max_results_valid with input as f.with_request(f.criminal_identify, {"max_results": n})
		codes(minimisation.violations) == {"invalid_max_results"} with input as f.with_request(f.criminal_identify, {"max_results": n})
	}
}

test_missing_max_results_denied_for_identify_only if {
	"invalid_max_results" in codes(minimisation.violations) with input as json.remove(f.criminal_identify, ["request/max_results"])
	count(minimisation.violations) == 0 with input as f.verify(f.fbi_investigator, "criminal_investigation", "warrant", "face")
}

# --- Sort keys ---

with_sort(keys) := f.with_request(f.criminal_identify, {"sort_by": keys})

test_no_sort_keys_permitted if {
	minimisation.sort_permitted with input as f.criminal_identify
	minimisation.sort_permitted with input as with_sort([])
}

test_sort_by_score_permitted if {
	minimisation.sort_permitted with input as with_sort(["score"])
}

test_sort_by_protected_attribute_denied if {
	every attribute in ["race", "ethnicity", "religion", "national_origin", "sex", "sexual_orientation", "gender_identity", "Religion"] {
		not minimisation.sort_permitted with input as with_sort(["score", attribute])
		codes(minimisation.violations) == {"protected_attribute_sort"} with input as with_sort(["score", attribute])
	}
}

test_unsupported_sort_key_denied if {
	not minimisation.sort_permitted with input as with_sort(["captured_at"])
	codes(minimisation.violations) == {"unsupported_sort"} with input as with_sort(["captured_at"])
	not minimisation.sort_permitted with input as with_sort([7])
}

test_sort_by_not_a_list_denied if {
	not minimisation.sort_permitted with input as with_sort("score")
	codes(minimisation.violations) == {"invalid_sort"} with input as with_sort("score")
}
