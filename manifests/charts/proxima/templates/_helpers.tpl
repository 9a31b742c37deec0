{{- define "proxima.labels" -}}
app.kubernetes.io/part-of: proxima
{{- end }}

{{- /* The telemetry credentials: the keys of telemetry.credentialsSecret in
use, checked. */ -}}
{{- define "proxima.telemetryKeys" -}}
{{- $keys := .Values.telemetry.credentialsKeys | default list }}
{{- range $keys }}
{{- if not (has . (list "ca.crt" "tls.crt" "tls.key" "token")) }}
{{- fail (printf "telemetry.credentialsKeys: unknown key %q (use ca.crt, tls.crt with tls.key, token)" .) }}
{{- end }}
{{- end }}
{{- if ne (has "tls.crt" $keys) (has "tls.key" $keys) }}
{{- fail "telemetry.credentialsKeys: tls.crt and tls.key go together (a client certificate and its key)" }}
{{- end }}
{{- if and .Values.telemetry.credentialsSecret (not $keys) }}
{{- fail "telemetry.credentialsKeys: name the keys of telemetry.credentialsSecret to use" }}
{{- end }}
{{- toJson $keys }}
{{- end }}

{{- /* Where the control components run: the same for the scheduler and the
controller. */ -}}
{{- define "proxima.placement" -}}
{{- with .Values.placement.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.placement.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.placement.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- /* Affinity of a component: placement.affinity when set, else keep off
edge nodes (and on placement.sites' nodes when listed) and spread the
replicas over nodes. */ -}}
{{- define "proxima.affinity" -}}
{{- if .root.Values.placement.affinity }}
{{- toYaml .root.Values.placement.affinity }}
{{- else }}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - {key: node-role.kubernetes.io/edge, operator: DoesNotExist}
          - {key: openyurt.io/is-edge-worker, operator: NotIn, values: ["true"]}
          {{- with .root.Values.placement.sites }}
          - {key: node-restriction.kubernetes.io/placement.proxima.dev-site, operator: In, values: {{ toJson . }}}
          {{- end }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels: {app.kubernetes.io/name: {{ .name }}}
{{- end }}
{{- end }}
