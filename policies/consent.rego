# Consent (data.consent_scopes): a record is released for a purpose only if the consent it
# was collected under covers that purpose's scope, and consent has not been withdrawn.
package broker.consent

import data.broker.clock
import data.broker.purposes

# The scope a record must carry to be released for the requested purpose.
required_scope := purposes.purpose.consent_scope

# known_scope(scope): the scope is described in data.consent_scopes.
known_scope(scope) if data.consent_scopes[scope]

# has_scope(provenance, scope): the record's consent covers the scope.
has_scope(provenance, scope) if scope in provenance.consent_scopes

# not_withdrawn(provenance): no withdrawal recorded, or one that takes effect only later.
not_withdrawn(provenance) if not "consent_withdrawn_at" in object.keys(provenance)

not_withdrawn(provenance) if time.parse_rfc3339_ns(provenance.consent_withdrawn_at) > clock.now_ns
