{{- define "proxima.labels" -}}
app.kubernetes.io/part-of: proxima
{{- end }}
