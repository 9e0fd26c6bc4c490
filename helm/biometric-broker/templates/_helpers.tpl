{{/*
Names, labels and the checks every render runs. Validation fails the render with a message
that names the value, so a bad release never reaches the cluster (lint does not evaluate
`required`/`fail`; render and install do).
*/}}

{{- define "biometric-broker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "biometric-broker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A resource name "<fullname>-<suffix>" that stays within 63 characters. */}}
{{- define "biometric-broker.componentName" -}}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "biometric-broker.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "biometric-broker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "biometric-broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "biometric-broker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "biometric-broker.labels" -}}
helm.sh/chart: {{ include "biometric-broker.chart" . }}
{{ include "biometric-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: broker
app.kubernetes.io/part-of: biometric-broker
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "biometric-broker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "biometric-broker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "biometric-broker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "biometric-broker.opaImage" -}}
{{- if .Values.opa.image.digest }}
{{- printf "%s@%s" .Values.opa.image.repository .Values.opa.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.opa.image.repository .Values.opa.image.tag }}
{{- end }}
{{- end }}

{{- define "biometric-broker.brokerId" -}}
{{- default (include "biometric-broker.fullname" .) .Values.broker.id }}
{{- end }}

{{- define "biometric-broker.signingSecretName" -}}
{{- if .Values.signingKey.existingSecret }}
{{- .Values.signingKey.existingSecret }}
{{- else }}
{{- include "biometric-broker.componentName" (list . "signing-key") }}
{{- end }}
{{- end }}

{{- define "biometric-broker.policiesConfigMapName" -}}
{{- if .Values.policies.existingConfigMap }}
{{- .Values.policies.existingConfigMap }}
{{- else }}
{{- include "biometric-broker.componentName" (list . "policies") }}
{{- end }}
{{- end }}

{{- define "biometric-broker.claimName" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $persistence := (index $root.Values $component).persistence }}
{{- if $persistence.existingClaim }}
{{- $persistence.existingClaim }}
{{- else }}
{{- include "biometric-broker.componentName" (list $root $component) }}
{{- end }}
{{- end }}

{{/*
The policy files as a YAML map (file name -> content): from policies.files when it is not
empty, otherwise the chart's policies/ folder (*.rego and *.json). Fails when there are none:
a broker without policies could only deny, and that is a deployment mistake.
*/}}
{{- define "biometric-broker.policyFiles" -}}
{{- $files := dict }}
{{- if .Values.policies.files }}
{{- range $name, $content := .Values.policies.files }}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*\\.(rego|json)$" $name) }}
{{- fail (printf "policies.files: %q is not a valid policy file name (letters, digits, '.', '_', '-'; ending in .rego or .json)" $name) }}
{{- end }}
{{- if not (kindIs "string" $content) }}
{{- fail (printf "policies.files.%s: the content must be a string (use --set-file)" $name) }}
{{- end }}
{{- $_ := set $files $name $content }}
{{- end }}
{{- else }}
{{- range $path, $_ := .Files.Glob "policies/*.{rego,json}" }}
{{- $_ := set $files (base $path) ($.Files.Get $path) }}
{{- end }}
{{- end }}
{{- if not $files }}
{{- fail "policies: no policy files: the chart's policies/ folder has no *.rego or *.json; set policies.existingConfigMap or policies.files" }}
{{- end }}
{{- $total := 0 }}
{{- range $name, $content := $files }}
{{- $total = add $total (len $name) (len $content) }}
{{- end }}
{{- /* A ConfigMap holds at most 1 MiB; keep room for its metadata. */}}
{{- if gt $total 1000000 }}
{{- fail (printf "policies: %d bytes do not fit in a ConfigMap (1 MiB); make the data documents smaller" $total) }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/*
Issuer JWKS documents carried by the chart, as a YAML map "<index>.jwks.json" -> JSON text.
Each issuer gets exactly one of jwks / jwksFile; JWKS with private key parameters are refused.
*/}}
{{- define "biometric-broker.issuerFiles" -}}
{{- $files := dict }}
{{- $seen := list }}
{{- if not .Values.broker.issuers }}
{{- fail "broker.issuers: at least one trusted token issuer is required (issuer plus jwks or jwksFile)" }}
{{- end }}
{{- range $i, $iss := .Values.broker.issuers }}
{{- $field := printf "broker.issuers[%d]" $i }}
{{- if not $iss.issuer }}
{{- fail (printf "%s.issuer: required" $field) }}
{{- end }}
{{- if has $iss.issuer $seen }}
{{- fail (printf "%s.issuer: %q is listed twice" $field $iss.issuer) }}
{{- end }}
{{- $seen = append $seen $iss.issuer }}
{{- if and $iss.jwks $iss.jwksFile }}
{{- fail (printf "%s: set jwks or jwksFile, not both" $field) }}
{{- end }}
{{- if $iss.jwksFile }}
{{- if not (isAbs $iss.jwksFile) }}
{{- fail (printf "%s.jwksFile: must be an absolute path inside the broker container" $field) }}
{{- end }}
{{- else if $iss.jwks }}
{{- $doc := $iss.jwks }}
{{- if kindIs "string" $iss.jwks }}
{{- $doc = fromJson $iss.jwks }}
{{- end }}
{{- if or (not (kindIs "map" $doc)) (not (kindIs "slice" (get $doc "keys"))) (not (get $doc "keys")) }}
{{- fail (printf "%s.jwks: not a JWKS (a JSON object with a non-empty \"keys\" array)" $field) }}
{{- end }}
{{- range $k, $key := get $doc "keys" }}
{{- if not (kindIs "map" $key) }}
{{- fail (printf "%s.jwks.keys[%d]: must be a JSON object" $field $k) }}
{{- end }}
{{- range $param := list "d" "p" "q" "dp" "dq" "qi" "k" }}
{{- if hasKey $key $param }}
{{- fail (printf "%s.jwks.keys[%d]: contains the private or symmetric parameter %q; publish only public keys" $field $k $param) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* JSON text is kept byte for byte; a YAML map is serialised. */}}
{{- $_ := set $files (printf "%d.jwks.json" $i) (ternary $iss.jwks (toJson $doc) (kindIs "string" $iss.jwks)) }}
{{- else }}
{{- fail (printf "%s: set jwks (the issuer's public JWKS) or jwksFile" $field) }}
{{- end }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{- define "biometric-broker.jwksPath" -}}
{{- $iss := index . 0 }}
{{- if $iss.jwksFile }}
{{- $iss.jwksFile }}
{{- else }}
{{- printf "/etc/biometric-broker/issuers/%d.jwks.json" (index . 1) }}
{{- end }}
{{- end }}

{{/* matcher_timeout_seconds as a TOML float (2 -> 2.0). */}}
{{- define "biometric-broker.matcherTimeout" -}}
{{- $t := .Values.broker.matcherTimeoutSeconds }}
{{- if not (and (or (kindIs "float64" $t) (kindIs "int64" $t) (kindIs "int" $t)) (gt (float64 $t) 0.0)) }}
{{- fail "broker.matcherTimeoutSeconds: must be a positive number of seconds" }}
{{- end }}
{{- $s := toString (float64 $t) }}
{{- if regexMatch "^[0-9]+$" $s }}{{ $s = printf "%s.0" $s }}{{ end }}
{{- $s }}
{{- end }}

{{/* The broker's config.toml; every string goes through toJson, whose escapes TOML accepts. */}}
{{- define "biometric-broker.configToml" -}}
broker_id = {{ include "biometric-broker.brokerId" . | toJson }}
listen = "0.0.0.0:50051"
{{- if .Values.tls.enabled }}
tls_cert_file = "/etc/biometric-broker/tls/tls.crt"
tls_key_file = "/etc/biometric-broker/tls/tls.key"
{{- if .Values.tls.clientCA.enabled }}
tls_client_ca_file = "/etc/biometric-broker/client-ca/ca.crt"
{{- end }}
{{- else }}
insecure_plaintext = true
{{- end }}
health_listen = "0.0.0.0:{{ include "biometric-broker.healthPort" . }}"
audience = {{ .Values.broker.audience | toString | toJson }}
policy_dir = "/etc/biometric-broker/policies"
{{- if .Values.opa.enabled }}
policy_backend = "opa"
opa_url = "http://127.0.0.1:{{ include "biometric-broker.opaPort" . }}"
{{- else }}
policy_backend = "embedded"
{{- end }}
signing_key_file = "/etc/biometric-broker/signing/signing-key.pem"
audit_dir = "/var/lib/biometric-broker/audit"
matcher_address = "unix:/run/matcher/matcher.sock"
matcher_timeout_seconds = {{ include "biometric-broker.matcherTimeout" . }}
{{- range $i, $iss := .Values.broker.issuers }}

[[issuers]]
issuer = {{ $iss.issuer | toString | toJson }}
jwks_file = {{ include "biometric-broker.jwksPath" (list $iss $i) | toJson }}
algorithms = {{ default (list "EdDSA" "ES256") $iss.algorithms | toJson }}
{{- end }}
{{- end }}

{{/* Checks that are not tied to a single resource. */}}
{{- define "biometric-broker.validate" -}}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount: at most 1 (the audit log has a single writer on its volume)" }}
{{- end }}
{{- if and .Values.policies.existingConfigMap .Values.policies.files }}
{{- fail "policies: set existingConfigMap or files, not both" }}
{{- end }}
{{- if and .Values.signingKey.existingSecret .Values.signingKey.pem }}
{{- fail "signingKey: set existingSecret or pem, not both" }}
{{- end }}
{{- include "biometric-broker.validateTls" . }}
{{- if and .Values.opa.enabled .Values.policies.existingConfigMap }}
{{- fail "opa.enabled: OPA loads each data document from <name>/data.json, so the chart must project every file of the policies ConfigMap; with policies.existingConfigMap it cannot know them. Use the embedded policies or policies.files" }}
{{- end }}
{{- end }}

{{/* TLS values: exactly one source per Secret, and PEMs that look like what they claim. */}}
{{- define "biometric-broker.validateTls" -}}
{{- $tls := .Values.tls }}
{{- $ca := $tls.clientCA }}
{{- if $tls.enabled }}
{{- if $tls.existingSecret }}
{{- if or $tls.cert $tls.key }}
{{- fail "tls: set existingSecret or cert and key, not both" }}
{{- end }}
{{- else }}
{{- if not (and $tls.cert $tls.key) }}
{{- fail "tls: set tls.existingSecret (a kubernetes.io/tls Secret, e.g. from cert-manager) or both tls.cert and tls.key; or tls.enabled=false to serve plaintext behind a TLS-terminating mesh" }}
{{- end }}
{{- if not (regexMatch "(?s)^\\s*-----BEGIN CERTIFICATE-----\\n.+-----END CERTIFICATE-----\\s*$" $tls.cert) }}
{{- fail "tls.cert: not a PEM certificate chain (-----BEGIN CERTIFICATE----- ...)" }}
{{- end }}
{{- if not (regexMatch "(?s)^\\s*-----BEGIN (EC |RSA )?PRIVATE KEY-----\\n.+-----END (EC |RSA )?PRIVATE KEY-----\\s*$" $tls.key) }}
{{- fail "tls.key: not an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- ...)" }}
{{- end }}
{{- end }}
{{- else if or $tls.existingSecret $tls.cert $tls.key $ca.enabled }}
{{- fail "tls.enabled is false but TLS or mTLS values are set: enable TLS or remove them" }}
{{- end }}
{{- if $ca.enabled }}
{{- if eq (empty $ca.existingSecret) (empty $ca.pem) }}
{{- fail "tls.clientCA: set existingSecret or pem (the CA that issues callers' client certificates), exactly one" }}
{{- end }}
{{- if and $ca.pem (not (regexMatch "(?s)^\\s*-----BEGIN CERTIFICATE-----\\n.+-----END CERTIFICATE-----\\s*$" $ca.pem)) }}
{{- fail "tls.clientCA.pem: not a PEM certificate bundle (-----BEGIN CERTIFICATE----- ...)" }}
{{- end }}
{{- else if or $ca.existingSecret $ca.pem }}
{{- fail "tls.clientCA: a CA is given but clientCA.enabled is false: enable mTLS or remove it" }}
{{- end }}
{{- end }}

{{- define "biometric-broker.healthPort" -}}8086{{- end }}
{{- define "biometric-broker.opaPort" -}}8181{{- end }}
{{- define "biometric-broker.opaDiagnosticPort" -}}8282{{- end }}

{{- define "biometric-broker.tlsSecretName" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- include "biometric-broker.componentName" (list . "tls") }}
{{- end }}
{{- end }}

{{- define "biometric-broker.clientCASecretName" -}}
{{- if .Values.tls.clientCA.existingSecret }}
{{- .Values.tls.clientCA.existingSecret }}
{{- else }}
{{- include "biometric-broker.componentName" (list . "client-ca") }}
{{- end }}
{{- end }}

{{/*
How the OPA sidecar sees the policies ConfigMap: `opa run` loads a JSON file as data under
the path of its directory, so each data document <name>.json is projected as
<name>/data.json (data.<name>, as the broker's own loader has it). Rego modules keep their
names; tests and schemas are left out (OPA would load a schema as data).
*/}}
{{- define "biometric-broker.opaItems" -}}
{{- $items := list }}
{{- range $name, $_ := include "biometric-broker.policyFiles" . | fromYaml }}
{{- if or (hasSuffix "_test.rego" $name) (hasSuffix ".schema.json" $name) }}
{{- else if hasSuffix ".rego" $name }}
{{- $items = append $items (dict "key" $name "path" $name) }}
{{- else }}
{{- $items = append $items (dict "key" $name "path" (printf "%s/data.json" (trimSuffix ".json" $name))) }}
{{- end }}
{{- end }}
{{- toYaml $items }}
{{- end }}

{{/* Fixed for both containers; not configurable on purpose. */}}
{{- define "biometric-broker.containerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
{{- end }}
