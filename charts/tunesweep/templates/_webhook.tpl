{{/* The admission webhook's names and the operator container's share of it (deployment.yaml). */}}
{{- define "tunesweep.webhook.service" -}}
{{- printf "%s-webhook" (include "tunesweep.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tunesweep.webhook.certDir" -}}/var/run/secrets/tunesweep/webhook{{- end -}}

{{- define "tunesweep.webhook.env" -}}
{{- if .Values.webhook.enabled }}
- name: TUNESWEEP_WEBHOOK_PORT
  value: {{ .Values.webhook.port | quote }}
{{- if .Values.webhook.certManager.enabled }}
- name: TUNESWEEP_WEBHOOK_CERT_DIR
  value: {{ include "tunesweep.webhook.certDir" . }}
{{- else }}
- name: TUNESWEEP_WEBHOOK_HOSTS
  value: {{ printf "%s.%s.svc" (include "tunesweep.webhook.service" .) .Release.Namespace | quote }}
- name: TUNESWEEP_WEBHOOK_CONFIGURATION
  value: {{ include "tunesweep.fullname" . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tunesweep.webhook.port" -}}
{{- if .Values.webhook.enabled }}
- name: webhook
  containerPort: {{ .Values.webhook.port }}
{{- end }}
{{- end -}}

{{- define "tunesweep.webhook.volumeMount" -}}
{{- if and .Values.webhook.enabled .Values.webhook.certManager.enabled }}
- name: webhook-tls
  mountPath: {{ include "tunesweep.webhook.certDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "tunesweep.webhook.volume" -}}
{{- if and .Values.webhook.enabled .Values.webhook.certManager.enabled }}
- name: webhook-tls
  secret:
    secretName: {{ include "tunesweep.webhook.service" . }}-tls
{{- end }}
{{- end -}}
