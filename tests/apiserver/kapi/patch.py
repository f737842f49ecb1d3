# SPDX-License-Identifier: Apache-2.0
"""The three JSON patch flavours kube-apiserver accepts (apimachinery
pkg/types/patch.go): JSON merge patch (RFC 7386), strategic merge patch
(merge patch + list merging by patch merge key for the pod/event fields that
have one, and the $patch / $setElementOrder / $deleteFromPrimitiveList
directives), and JSON patch (RFC 6902).  apply-patch is not implemented."""
import copy

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
ACCEPTED = [JSON_PATCH, MERGE_PATCH, "application/apply-patch+yaml", STRATEGIC,
            "application/apply-patch+cbor"]


class PatchError(Exception):
    pass


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# field name -> patch merge key (k8s.io/api core/v1 `patchMergeKey` tags)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "containerStatuses": "name", "initContainerStatuses": "name",
              "ephemeralContainerStatuses": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "conditions": "type",
              "imagePullSecrets": "name", "podIPs": "ip", "hostIPs": "ip",
              "ownerReferences": "uid", "tolerations": None, "addresses": "type"}
# primitive lists with patchStrategy merge
MERGE_PRIMITIVE = {"finalizers"}


def strategic_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k == "$retainKeys" or k == "$patch":
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            if isinstance(out.get(f), list) and isinstance(v, list):
                out[f] = [x for x in out[f] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and MERGE_KEYS.get(k) and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, MERGE_KEYS[k])
        elif isinstance(v, list) and k in MERGE_PRIMITIVE and isinstance(out.get(k), list):
            out[k] = out[k] + [x for x in v if x not in out[k]]
        elif isinstance(v, dict):
            r = strategic_merge_patch(out.get(k), v)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(cur, patch, key):
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    out = copy.deepcopy(cur)
    for p in patch:
        if not isinstance(p, dict) or key not in p:
            out.append(copy.deepcopy(p))
            continue
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == p[key]),
                   None)
        if p.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge_patch({}, p))
        else:
            out[idx] = strategic_merge_patch(out[idx], p)
    return out


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError("doc is missing path: %s" % "/".join(parts))
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError("doc is missing path: %s" % "/".join(parts))
        else:
            raise PatchError("doc is missing path: %s" % "/".join(parts))
    return cur


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be an array of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("invalid operation %r" % (op,))
        kind, parts = op["op"], _ptr(op["path"])
        if kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError("testing value %s failed: test failed" % op["path"])
            continue
        if kind in ("move", "copy"):
            src = _ptr(op.get("from", ""))
            val = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, parts, val)
            continue
        if kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "replace":
            _walk(doc, parts)
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


def _add(doc, parts, val):
    if not parts:
        return val
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = val
    elif isinstance(parent, list):
        if last == "-":
            parent.append(val)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError("invalid array index %r" % last)
            if i < 0 or i > len(parent):
                raise PatchError("add operation does not apply: index out of bounds")
            parent.insert(i, val)
    else:
        raise PatchError("add operation does not apply: doc is missing path")
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        try:
            del parent[int(last)]
        except (ValueError, IndexError):
            raise PatchError("remove operation does not apply: doc is missing path")
    else:
        raise PatchError("remove operation does not apply: doc is missing path: %s"
                         % "/".join(parts))
    return doc


def apply(ctype, target, patch):
    if ctype == MERGE_PATCH:
        return merge_patch(target, patch)
    if ctype == STRATEGIC:
        return strategic_merge_patch(target, patch)
    if ctype == JSON_PATCH:
        return json_patch(target, patch)
    raise ValueError(ctype)
