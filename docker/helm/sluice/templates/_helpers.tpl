{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
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

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The chart's own Secret holds whatever was given inline. */}}
{{- define "sluice.inlineSecrets" -}}
{{- $d := dict }}
{{- if and .Values.apiKeys.json (not .Values.apiKeys.existingSecret) }}{{ $_ := set $d .Values.apiKeys.key .Values.apiKeys.json }}{{ end }}
{{- if and .Values.jwt.secret (not .Values.jwt.existingSecret) }}{{ $_ := set $d .Values.jwt.key .Values.jwt.secret }}{{ end }}
{{- if and .Values.kafka.saslPassword.value (not .Values.kafka.saslPassword.existingSecret) }}{{ $_ := set $d .Values.kafka.saslPassword.key .Values.kafka.saslPassword.value }}{{ end }}
{{- if and .Values.metrics.token.value (not .Values.metrics.token.existingSecret) }}{{ $_ := set $d .Values.metrics.token.key .Values.metrics.token.value }}{{ end }}
{{- toYaml $d }}
{{- end }}

{{/* Shutdown budget must leave room for answering requests and the Kafka flush (the gateway refuses to start otherwise). */}}
{{- define "sluice.gracePeriodSeconds" -}}
{{- $s := .Values.shutdown }}
{{- if ge (add (int $s.delayMs) (int $s.closeWindowMs)) (int $s.timeoutMs) }}
{{- fail "shutdown.delayMs + shutdown.closeWindowMs must be less than shutdown.timeoutMs" }}
{{- end }}
{{- add (div (add (int $s.timeoutMs) 999) 1000) (int $s.graceMarginSeconds) }}
{{- end }}
