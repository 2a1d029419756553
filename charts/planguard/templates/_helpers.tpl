{{- define "planguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- /* 50, not 63: names get suffixes such as -enactor-<id>. */ -}}
{{- define "planguard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "planguard.labels" -}}
app.kubernetes.io/name: {{ include "planguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- /* By digest when image.digest is set (what runs is then exactly what was reviewed),
else by tag. */ -}}
{{- define "planguard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- /* The API roles' ServiceAccount token as the kubelet would mount it (a bound,
rotating, projected token), but explicit: automountServiceAccountToken is false on every
pod, so only a pod that mounts this volume can call the API. */ -}}
{{- define "planguard.apiTokenVolume" -}}
- name: api-token
  projected:
    defaultMode: 288  # 0440: the process's group (fsGroup) only
    sources:
    - serviceAccountToken: {path: token, expirationSeconds: 3607}
    - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
    - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
{{- end -}}

{{- define "planguard.apiTokenMount" -}}
- {name: api-token, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}
{{- end -}}

{{- /* A TSIG key Secret as a volume: 0440, readable by the process's group (fsGroup) only. */ -}}
{{- define "planguard.tsigVolume" -}}
{name: tsig, secret: {secretName: {{ . }}, defaultMode: 288}}
{{- end -}}

{{- /* checkov checks that are wrong for planguard's roles, each with its reason
(`checkov -f` on the rendered chart reads these annotations; bench/checkov.sh). */ -}}
{{- define "planguard.checkovSkips" -}}
checkov.io/skip1: "CKV_K8S_11=no CPU limit on purpose: CFS throttling stalls the liveness heartbeat and the probe thread, and the kubelet restarts a healthy pod; CPU requests are set"
checkov.io/skip2: "CKV_K8S_15=imagePullPolicy IfNotPresent is right for an image pinned by digest (image.digest) or a release tag: Always makes every restart depend on the registry"
{{- end -}}

{{- define "planguard.watchArgs" -}}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- end -}}

{{- /* (dict "root" $ "role" "planner"): the role's ServiceAccount name. */ -}}
{{- define "planguard.serviceAccountName" -}}
{{- $c := index .root.Values .role -}}
{{- default (printf "%s-%s" (include "planguard.fullname" .root) .role) (($c.serviceAccount | default dict).name) -}}
{{- end -}}

{{- /* (dict "root" $ "role" "planner"): where the role's Leases live. */ -}}
{{- define "planguard.leaseNamespace" -}}
{{- (index .root.Values .role).leaseNamespace | default .root.Release.Namespace -}}
{{- end -}}

{{- /* The roles this release runs, each with its values key. */ -}}
{{- define "planguard.roles" -}}
{{- $roles := list "enactor" -}}
{{- if .Values.cleanup.enabled }}{{ $roles = append $roles "cleanup" }}{{ end -}}
{{- if .Values.planner.enabled }}{{ $roles = append $roles "planner" }}{{ end -}}
{{- if .Values.leases.enabled }}{{ $roles = append $roles "leases" }}{{ end -}}
{{- toJson $roles -}}
{{- end -}}

{{- /* A pod template's metadata and the spec fields every component shares.
(dict "root" $ "role" "enactor" "selector" (dict ...) "affinity" (dict ...)): selector is
the Deployment's matchLabels; affinity, when given, replaces the component/global one. */ -}}
{{- define "planguard.pod" -}}
{{- $v := .root.Values -}}
{{- $c := index $v .role -}}
{{- $labels := merge (dict) .selector (fromYaml (include "planguard.labels" .root)) (dict "app.kubernetes.io/component" .role) ($c.podLabels | default dict) ($v.podLabels | default dict) -}}
{{- $annotations := merge (dict) ($c.podAnnotations | default dict) ($v.podAnnotations | default dict) -}}
{{- $nodeSelector := merge (dict) ($c.nodeSelector | default dict) ($v.nodeSelector | default dict) -}}
{{- $tolerations := concat ($v.tolerations | default list) ($c.tolerations | default list) -}}
{{- $affinity := hasKey . "affinity" | ternary .affinity ($c.affinity | default $v.affinity) -}}
{{- $priority := $c.priorityClassName | default $v.priorityClassName -}}
{{- $spread := list -}}
{{- range ($c.topologySpreadConstraints | default $v.topologySpreadConstraints) -}}
{{- $spread = append $spread (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" $.selector))) -}}
{{- end -}}
metadata:
  labels:
    {{- range $k, $l := $labels }}
    {{ $k }}: {{ $l | quote }}
    {{- end }}
  {{- with $annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "planguard.serviceAccountName" . }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $priority }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext: {{- toYaml $v.podSecurityContext | nindent 4 }}
  {{- with $nodeSelector }}
  nodeSelector: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $tolerations }}
  tolerations: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $affinity }}
  affinity: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $spread }}
  topologySpreadConstraints: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- /* The container fields every component shares, after its own args:
(dict "root" $ "role" "planner" "watch" true "env" (list ...)); watch: the kopf roles'
--namespace flags. */ -}}
{{- define "planguard.container" -}}
{{- $v := .root.Values -}}
{{- $c := index $v .role -}}
{{- if .watch }}{{ include "planguard.watchArgs" .root }}{{ end }}
{{- range concat ($v.extraArgs | default list) ($c.extraArgs | default list) }}
- {{ . | quote }}
{{- end }}
{{- /* POD_IP: where /metrics and the probes listen (--listen-address's default). */ -}}
{{- $podIP := dict "name" "POD_IP" "valueFrom" (dict "fieldRef" (dict "fieldPath" "status.podIP")) }}
{{- $env := concat (list $podIP) (.env | default list) ($v.extraEnv | default list) ($c.extraEnv | default list) }}
{{- with $env }}
env: {{- toYaml . | nindent 2 }}
{{- end }}
ports:
- {name: metrics, containerPort: {{ $v.metrics.port }}}
- {name: health, containerPort: 8080}
livenessProbe:
  httpGet: {path: /healthz, port: health}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: health}
  periodSeconds: 5
resources: {{- toYaml $c.resources | nindent 2 }}
securityContext: {{- toYaml $v.securityContext | nindent 2 }}
{{- end -}}

{{- /* An enactor's affinity: the user's (enactor, else global) with its zone ANDed into
every required nodeSelectorTerm, so a user's term can never place it out of its zone. */ -}}
{{- define "planguard.enactorAffinity" -}}
{{- $aff := deepCopy (.root.Values.enactor.affinity | default .root.Values.affinity | default dict) -}}
{{- if .zone -}}
{{- $zone := dict "key" "topology.kubernetes.io/zone" "operator" "In" "values" (list .zone) -}}
{{- $na := $aff.nodeAffinity | default dict -}}
{{- $req := $na.requiredDuringSchedulingIgnoredDuringExecution | default dict -}}
{{- $terms := list -}}
{{- range ($req.nodeSelectorTerms | default (list (dict))) -}}
{{- $t := deepCopy . -}}
{{- $_ := set $t "matchExpressions" (append ($t.matchExpressions | default list) $zone) -}}
{{- $terms = append $terms $t -}}
{{- end -}}
{{- $_ := set $req "nodeSelectorTerms" $terms -}}
{{- $_ := set $na "requiredDuringSchedulingIgnoredDuringExecution" $req -}}
{{- $_ := set $aff "nodeAffinity" $na -}}
{{- end -}}
{{- toJson $aff -}}
{{- end -}}

{{- /* The install's part of the zone claims in DNS (--owner-id): the value, else the
kube-system namespace's uid (stable for the cluster's life; empty in `helm template`). */ -}}
{{- define "planguard.ownerId" -}}
{{- .Values.ownerId | default (dig "metadata" "uid" "" (lookup "v1" "Namespace" "" "kube-system")) -}}
{{- end -}}
