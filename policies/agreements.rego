# Cross-border agreements (data.agreements).
#
# A query may reach records of another country only under an agreement in force between
# the two countries that covers the request's purpose, modality and operation. Nothing else
# crosses a border. Every agreement that opens a border for a query also binds the whole
# query with its caps, score floor and human-review requirement.
package broker.agreements

import data.broker.clock

# in_force(agreement): from the start of in_force_from until the end of in_force_until
# (both dates inclusive, UTC).
in_force(agreement) if {
	clock.date_start_ns(agreement.in_force_from) <= clock.now_ns
	clock.now_ns < clock.date_start_ns(agreement.in_force_until) + clock.day_ns
}

# well_formed(agreement): it states the limits it imposes. An agreement that does not is
# never applied, so a typo in the data cannot lift a cap.
well_formed(agreement) if {
	is_number(agreement.max_results)
	is_number(agreement.min_score)
	is_boolean(agreement.human_review_required)
}

# covers(agreement, home, foreign): the agreement, in force, lets an agency of country `home`
# reach records of country `foreign` for this request's purpose, modality and operation.
covers(agreement, home, foreign) if {
	home != foreign
	home in agreement.parties
	foreign in agreement.parties
	input.request.purpose in agreement.purposes
	input.request.modality in agreement.modalities
	input.request.operation in agreement.operations
	well_formed(agreement)
	in_force(agreement)
}

# covering(home, foreign): the ids of every agreement that covers this request across
# that border.
covering(home, foreign) := {id |
	some id, agreement in data.agreements
	covers(agreement, home, foreign)
}
