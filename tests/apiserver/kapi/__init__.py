# SPDX-License-Identifier: Apache-2.0
"""kapi: the pieces of leakwatch's test Kubernetes API server.

Split by concern so each file stays readable: status (Status error bodies),
selectors (label/field selectors), resources (the resource registry and
event conversion), store (objects, resourceVersions, bounded watch history),
validation (Event/Pod/Lease rules), patch (merge/strategic/JSON patch),
tables (server-side printing for kubectl), discovery (the /api, /apis docs).
"""
