{{/*
Expand the name of the chart.
*/}}
{{- define "chatapp-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A fully qualified app name, at most 63 characters (DNS label). The release name alone when it
already contains the chart name.
*/}}
{{- define "chatapp-exporter.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "chatapp-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object, the exporter's and the test pod's.
*/}}
{{- define "chatapp-exporter.releaseLabels" -}}
helm.sh/chart: {{ include "chatapp-exporter.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of the exporter's objects.
*/}}
{{- define "chatapp-exporter.labels" -}}
{{ include "chatapp-exporter.releaseLabels" . }}
app.kubernetes.io/name: {{ include "chatapp-exporter.name" . }}
app.kubernetes.io/component: exporter
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "chatapp-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatapp-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "chatapp-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatapp-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image, its tag defaulting to the chart's appVersion.
*/}}
{{- define "chatapp-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
The Secret whose keys are mounted as files under secrets.mountPath: an existing one, the
chart's own (from secrets.data), or none.
*/}}
{{- define "chatapp-exporter.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.data }}
{{- printf "%s-secrets" (include "chatapp-exporter.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The Secret holding the web config file: an existing one, the chart's own (from
webConfig.config), or none.
*/}}
{{- define "chatapp-exporter.webConfigSecretName" -}}
{{- if .Values.webConfig.existingSecret }}
{{- .Values.webConfig.existingSecret }}
{{- else if .Values.webConfig.config }}
{{- printf "%s-web-config" (include "chatapp-exporter.fullname" .) }}
{{- end }}
{{- end }}

{{/*
HTTP or HTTPS, for the probes, the ServiceMonitor and the test: HTTPS when the web config
serves TLS.
*/}}
{{- define "chatapp-exporter.scheme" -}}
{{- if .Values.webConfig.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/*
Where the config file, the web config and its TLS files are mounted (the secret files:
secrets.mountPath, named by the config's *_file keys).
*/}}
{{- define "chatapp-exporter.configDir" -}}/etc/chatapp_exporter/config{{- end }}
{{- define "chatapp-exporter.webConfigDir" -}}/etc/chatapp_exporter/web{{- end }}
{{- define "chatapp-exporter.tlsDir" -}}/etc/chatapp_exporter/tls{{- end }}
