# Data minimisation (data.filters): a search asks for no more than it needs, and never
# narrows or orders a search by a protected attribute.
package broker.minimisation

import data.broker.purposes

# The request's filters; a request without filters has none.
filters := object.get(input.request, "filters", {})

# The filters to explain, key by key (none if `filters` is not even an object).
filter_entries := filters if is_object(filters) else := {}

# filters_permitted: every filter key is listed in data.filters.allowed and has a non-empty
# string value. Each key is looked up positively, so an unknown key fails the check.
filters_permitted if {
	is_object(filters)
	every key, value in filters {
		data.filters.allowed[key]
		purposes.non_empty_string(value)
	}
}

# The keys the request asks candidates to be ordered by; none means by score.
sort_by := object.get(input.request, "sort_by", [])

sort_entries := sort_by if is_array(sort_by) else := []

# sort_permitted: every sort key is listed in data.filters.sort_keys.
sort_permitted if {
	is_array(sort_by)
	every key in sort_by {
		data.filters.sort_keys[key]
	}
}

# max_results_valid: an identification names how many candidates it wants, 1 or more.
max_results_valid if {
	n := input.request.max_results
	is_number(n)
	n >= 1
	n == round(n)
}

protected(key) if {
	is_string(key)
	data.filters.protected_attributes[lower(key)]
}

violations contains {
	"code": "protected_attribute_filter",
	"message": sprintf("filtering on the protected attribute %v is not allowed", [key]),
} if {
	some key, _ in filter_entries
	protected(key)
}

violations contains {
	"code": "unsupported_filter",
	"message": sprintf("filter %v is not supported; allowed filters: %v", [key, object.keys(data.filters.allowed)]),
} if {
	some key, _ in filter_entries
	not data.filters.allowed[key]
	not protected(key)
}

violations contains {
	"code": "invalid_filter_value",
	"message": sprintf("filter %v needs a non-empty string value", [key]),
} if {
	some key, value in filter_entries
	data.filters.allowed[key]
	not purposes.non_empty_string(value)
}

violations contains {
	"code": "invalid_filters",
	"message": "filters must be an object of key to value",
} if {
	not is_object(filters)
}

violations contains {
	"code": "protected_attribute_sort",
	"message": sprintf("ordering candidates by the protected attribute %v is not allowed", [key]),
} if {
	some key in sort_entries
	protected(key)
}

violations contains {
	"code": "unsupported_sort",
	"message": sprintf("sort key %v is not supported; candidates are ordered by %v", [key, concat(", ", object.keys(data.filters.sort_keys))]),
} if {
	some key in sort_entries
	not data.filters.sort_keys[key]
	not protected(key)
}

violations contains {
	"code": "invalid_sort",
	"message": "sort_by must be a list of keys",
} if {
	not is_array(sort_by)
}

violations contains {
	"code": "invalid_max_results",
	"message": sprintf("max_results must be a whole number of at least 1, got %v", [object.get(input.request, "max_results", null)]),
} if {
	input.request.operation == "identify"
	not max_results_valid
}
