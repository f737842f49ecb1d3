{{/*
SPDX-License-Identifier: Apache-2.0
Named templates of the leakwatch chart (the helm create conventions): names,
labels, selector labels, the ServiceAccount name, the image and the Lease name.
*/}}

{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "leakwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources: fullnameOverride, else the release name
when it already contains the chart name, else "<release>-<chart>".
*/}}
{{- define "leakwatch.fullname" -}}
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

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "leakwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "leakwatch.labels" -}}
helm.sh/chart: {{ include "leakwatch.chart" . }}
{{ include "leakwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .Values.component | quote }}
app.kubernetes.io/part-of: {{ .Values.partOf | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the pods (never change them on upgrade). */}}
{{- define "leakwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leakwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount to use. */}}
{{- define "leakwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "leakwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The container image reference (digest wins over tag). */}}
{{- define "leakwatch.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Name of the leader-election Lease. */}}
{{- define "leakwatch.leaseName" -}}
{{- default (include "leakwatch.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The mode, checked. */}}
{{- define "leakwatch.mode" -}}
{{- if not (has .Values.mode (list "deployment" "daemonset")) }}
{{- fail (printf "mode must be deployment or daemonset, got %q" .Values.mode) }}
{{- end }}
{{- .Values.mode }}
{{- end }}

{{/* True (non-empty) when the Lease RBAC is needed. */}}
{{- define "leakwatch.leaderElection" -}}
{{- if and (eq (include "leakwatch.mode" .) "deployment") .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{/*
The pod template shared by the Deployment and the DaemonSet.
*/}}
{{- define "leakwatch.podTemplate" -}}
metadata:
  labels:
    {{- include "leakwatch.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "leakwatch.serviceAccountName" . }}
  automountServiceAccountToken: true
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: leakwatch
      image: {{ include "leakwatch.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - controller
        - --mode={{ include "leakwatch.mode" . }}
        - --metrics-bind-address=:{{ .Values.metrics.port }}
        - --scrape-interval={{ .Values.config.scrapeInterval }}
        - --scrape-timeout={{ .Values.config.scrapeTimeout }}
        - --max-concurrent-scrapes={{ .Values.config.maxConcurrentScrapes }}
        - --max-response-bytes={{ .Values.config.maxResponseBytes }}
        - --heap-every={{ .Values.config.heapEvery }}
        - --horizon={{ .Values.config.horizon }}
        - --min-confidence={{ .Values.config.minConfidence }}
        - --annotation-conventions={{ join "," .Values.config.annotationConventions }}
        {{- with .Values.config.namespaces }}
        - --namespaces={{ join "," . }}
        {{- end }}
        {{- with .Values.config.labelSelector }}
        - --label-selector={{ . }}
        {{- end }}
        - --events={{ .Values.config.events }}
        - --annotations={{ .Values.config.annotations }}
        - --metrics-api={{ .Values.config.metricsApi }}
        {{- if eq (include "leakwatch.mode" .) "daemonset" }}
        - --kubelet-metrics={{ .Values.config.kubeletMetrics }}
        - --kubelet-port={{ .Values.config.kubeletPort }}
        - --kubelet-insecure-skip-tls-verify={{ .Values.config.kubeletInsecureSkipTLSVerify }}
        {{- else }}
        - --leader-elect={{ .Values.leaderElection.enabled }}
        {{- if .Values.leaderElection.enabled }}
        - --leader-election-lease-name={{ include "leakwatch.leaseName" . }}
        - --leader-election-lease-duration={{ .Values.leaderElection.leaseDuration }}
        - --leader-election-renew-deadline={{ .Values.leaderElection.renewDeadline }}
        - --leader-election-retry-period={{ .Values.leaderElection.retryPeriod }}
        {{- end }}
        {{- end }}
        - --api-qps={{ .Values.config.apiQps }}
        - --api-burst={{ .Values.config.apiBurst }}
        - --log-level={{ .Values.config.logLevel }}
        - --log-format={{ .Values.config.logFormat }}
        - --shutdown-timeout={{ .Values.config.shutdownTimeout }}
        {{- range .Values.extraArgs }}
        - {{ tpl . $ | quote }}
        {{- end }}
      env:
        # Downward API: identity in the Lease and in Events, namespace of the Lease.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- if eq (include "leakwatch.mode" .) "daemonset" }}
        # Downward API: only this node's pods are watched (--node reads NODE_NAME).
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
      livenessProbe:
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmpSizeLimit }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
