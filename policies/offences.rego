# Offences (data.offences): the offence a request names, and the offence floors of
# agreements. A request names an offence by its code in input.request.offence, or names none.
package broker.offences

# The code the request names; "" when it names none.
named_code := object.get(input.request, "offence", "")

# offence_valid: the request names no offence, or one we know.
offence_valid if named_code == ""

offence_valid if data.offences[named_code]

# The maximum penalty of the named offence, in months; undefined when none is named.
max_penalty_months := data.offences[named_code].max_penalty_months

# meets_floor(floor): an agreement's offence floor is satisfied. null means the agreement
# sets no threshold; a number needs a named offence punishable by at least that many months.
meets_floor(floor) if floor == null

meets_floor(floor) if {
	is_number(floor)
	max_penalty_months >= floor
}

violations contains {
	"code": "unknown_offence",
	"message": sprintf("offence %v is not known", [named_code]),
} if {
	not offence_valid
}
