{{- define "dns.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "dns.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dns.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- /* The transfer key: the secondaries' transfers and the primary's NOTIFYs are signed. */ -}}
{{- define "dns.xfrKey" -}}
{{ include "dns.fullname" . }}-xfr
{{- end -}}

{{- /* named reads its config as the bind user (it drops root first): keys are copied
from the Secrets (root-only) to a memory volume, readable by bind alone. */ -}}
{{- define "dns.installKeys" -}}
install -o bind -g bind -m 0400 /secrets/*.key /keys/ && chown bind:bind /keys && chmod 0500 /keys
{{- end -}}

{{- /* Ready once every zone is loaded (a secondary that has not transferred yet, or a
primary whose zone file is broken, answers nothing through its Service); live while named
accepts connections. */ -}}
{{- define "dns.probes" -}}
readinessProbe:
  exec:
    command: [sh, -c, "for z in {{ join " " .Values.zones }}; do dig +short +norec +time=1 +tries=1 @127.0.0.1 SOA $z | grep -q . || exit 1; done"]
  periodSeconds: 2
  timeoutSeconds: 5
livenessProbe:
  tcpSocket: {port: 53}
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}
