# Purposes (data.purposes): why an officer may query, under which legal basis, with which
# role, and for which operations.
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

operation_permitted if input.request.operation in purpose.operations

legal_basis_present if {
	non_empty_string(input.request.legal_basis.type)
	non_empty_string(input.request.legal_basis.reference)
}

legal_basis_accepted if {
	legal_basis_present
	input.request.legal_basis.type in purpose.legal_bases
}

role_permitted if {
	some role in input.subject.roles
	role in purpose.roles
}

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
	"code": "operation_not_permitted",
	"message": sprintf("purpose %v does not permit operation %v", [input.request.purpose, object.get(input, ["request", "operation"], null)]),
} if {
	purpose
	not operation_permitted
}

violations contains {
	"code": "missing_legal_basis",
	"message": "a legal basis needs both a type and a reference",
} if {
	not legal_basis_present
}

violations contains {
	"code": "legal_basis_not_accepted",
	"message": sprintf("purpose %v does not accept legal basis %v", [input.request.purpose, input.request.legal_basis.type]),
} if {
	purpose
	legal_basis_present
	not legal_basis_accepted
}

violations contains {
	"code": "role_not_permitted",
	"message": sprintf("purpose %v requires one of the roles %v", [input.request.purpose, object.get(purpose, "roles", [])]),
} if {
	purpose
	not role_permitted
}
