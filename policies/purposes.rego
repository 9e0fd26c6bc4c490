# Purposes (data.purposes): why an officer may query, under which legal basis, with which
# role, for which operations, and whether a 1:N identification is allowed at all.
package broker.purposes

# The operations that search the gallery (and so carry search obligations).
search_operations := {"identify", "verify"}

# The requested purpose's entry; undefined for an unknown purpose.
purpose := data.purposes[input.request.purpose]

# request_permitted: the purpose allows the operation, the legal basis is one the purpose
# accepts and carries a reference, and the subject holds a role the purpose requires.
request_permitted if {
	operation_permitted
	legal_basis_accepted
	role_permitted
}

# A 1:N identification needs both: the purpose lists it, and says it is allowed at all.
operation_permitted if {
	input.request.operation != "identify"
	input.request.operation in purpose.operations
}

operation_permitted if {
	input.request.operation == "identify"
	"identify" in purpose.operations
	purpose.identify_allowed == true
}

legal_basis_present if {
	non_empty_string(input.request.legal_basis.type)
	non_empty_string(input.request.legal_basis.reference)
}

# The type must be a known kind of legal basis (data.legal_bases) that the purpose accepts.
legal_basis_accepted if {
	legal_basis_present
	data.legal_bases[input.request.legal_basis.type]
	input.request.legal_basis.type in purpose.legal_bases
}

role_permitted if {
	some role in input.subject.roles
	role in purpose.roles
}

# min_score: the purpose's score floor for the requested modality; undefined if it has none
# (then the search obligations are undefined and the request is denied).
min_score := purpose.min_score[input.request.modality]

non_empty_string(s) if {
	is_string(s)
	trim_space(s) != ""
}

violations contains {
	"code": "unknown_purpose",
	"message": sprintf("purpose %v is not known", [object.get(input, ["request", "purpose"], null)]),
} if {
	not purpose
}

violations contains {
	"code": "identify_not_permitted",
	"message": sprintf("purpose %v never permits a 1:N identification; only a 1:1 verification against a named record", [input.request.purpose]),
} if {
	purpose
	input.request.operation == "identify"
	not operation_permitted
}

violations contains {
	"code": "operation_not_permitted",
	"message": sprintf("purpose %v does not permit operation %v", [input.request.purpose, object.get(input, ["request", "operation"], null)]),
} if {
	purpose
	object.get(input, ["request", "operation"], null) != "identify"
	not operation_permitted
}

violations contains {
	"code": "missing_legal_basis",
	"message": "a legal basis needs both a type and a reference",
} if {
	not legal_basis_present
}

violations contains {
	"code": "unknown_legal_basis",
	"message": sprintf("legal basis %v is not a known kind of legal basis", [input.request.legal_basis.type]),
} if {
	legal_basis_present
	not data.legal_bases[input.request.legal_basis.type]
}

violations contains {
	"code": "legal_basis_not_accepted",
	"message": sprintf("purpose %v does not accept legal basis %v (it accepts %v)", [
		input.request.purpose, input.request.legal_basis.type,
		concat(", ", object.get(purpose, "legal_bases", [])),
	]),
} if {
	purpose
	legal_basis_present
	data.legal_bases[input.request.legal_basis.type]
	not legal_basis_accepted
}

violations contains {
	"code": "role_not_permitted",
	"message": sprintf("purpose %v requires one of the roles %v", [input.request.purpose, object.get(purpose, "roles", [])]),
} if {
	purpose
	not role_permitted
}
