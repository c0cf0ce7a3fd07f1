{{/* The name of every object of the release: the release name. */}}
{{- define "concejo.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "concejo.selectorLabels" -}}
app.kubernetes.io/name: concejo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "concejo.labels" -}}
{{ include "concejo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "concejo.serviceAccountName" -}}
{{- default (include "concejo.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
