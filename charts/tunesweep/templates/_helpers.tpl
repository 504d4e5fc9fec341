{{/* Names and labels, after `helm create`'s conventions. */}}
{{- define "tunesweep.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tunesweep.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "tunesweep.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tunesweep.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tunesweep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "tunesweep.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "tunesweep.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The default trainer image of one accelerator: trainer.images.<accel>, else <repository>:<tag>-<accel>. */}}
{{- define "tunesweep.trainerImage" -}}
{{- $trainer := .root.Values.trainer -}}
{{- get $trainer.images .accelerator | default (printf "%s:%s-%s" $trainer.repository ($trainer.tag | default .root.Chart.AppVersion) .accelerator) -}}
{{- end -}}

{{/* The operator's RBAC rules: files/operator-rules.yaml, the one source (the operator engineer's). */}}
{{- define "tunesweep.rules" -}}
{{- $rules := .Files.Get "files/operator-rules.yaml" | fromYamlArray -}}
{{- if not $rules -}}
{{- fail "files/operator-rules.yaml holds no rules" -}}
{{- end -}}
{{- range $rules -}}
{{- if not (kindIs "map" .) -}}
{{- fail (printf "files/operator-rules.yaml must be a YAML list of PolicyRules; got %v" .) -}}
{{- end -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
