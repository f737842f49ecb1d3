/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec.c: client-go exec credential plugins (client.authentication.k8s.io
 * v1 and v1beta1), run the safe way:
 *  - posix_spawn with an argv array, never a shell; a relative command with
 *    a '/' was already resolved against the kubeconfig's directory, a bare
 *    name is looked up in PATH (posix_spawnp);
 *  - envp = our environment + exec.env (overriding) + KUBERNETES_EXEC_INFO,
 *    built for the child only (no setenv in this process);
 *  - stdin /dev/null (never interactive), other descriptors closed, default
 *    signal dispositions, its own process group so a timeout kills the
 *    plugin and anything it started;
 *  - stdout capped (max_out), the first 4 KiB of stderr kept for the error
 *    message, a hard time limit (timeout_s).
 * The output is an ExecCredential whose apiVersion must match; its status
 * gives a token and/or clientCertificateData + clientKeyData (PEM strings,
 * checked with OpenSSL) and an optional expirationTimestamp (RFC 3339).
 */
#define _GNU_SOURCE 1   /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include "kubeconfig/kubeconfig_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define STDERR_KEEP 4096

static void free_secret(char *s, size_t len)
{
    if (s) {
        explicit_bzero(s, len);
        free(s);
    }
}

static void clear_cred(struct lw__exec *x)
{
    free_secret(x->token, x->token ? strlen(x->token) : 0);
    free(x->cert);
    free_secret(x->key, x->key_len);
    x->token = x->cert = x->key = NULL;
    x->cert_len = x->key_len = 0;
    x->expiry = 0;
    x->have = 0;
}

void lw__exec_free(struct lw__exec *x)
{
    if (!x)
        return;
    clear_cred(x);
    free(x->command);
    for (size_t i = 0; x->argv && x->argv[i]; i++)
        free(x->argv[i]);
    free(x->argv);
    for (size_t i = 0; i < x->nenv; i++)
        free(x->env[i]);
    free(x->env);
    free(x->api_version);
    free(x->install_hint);
    free(x->exec_info);
    free(x->what);
    memset(x, 0, sizeof(*x));
}

/* environ minus the names that exec.env or KUBERNETES_EXEC_INFO set, then those. */
static char **build_envp(const struct lw__exec *x, char **info)
{
    size_t nparent = 0;
    while (environ && environ[nparent])
        nparent++;
    char **envp = calloc(nparent + x->nenv + 2, sizeof(char *));
    if (!envp)
        return NULL;
    size_t il = strlen("KUBERNETES_EXEC_INFO=") + strlen(x->exec_info) + 1;
    *info = malloc(il);
    if (!*info) {
        free(envp);
        return NULL;
    }
    snprintf(*info, il, "KUBERNETES_EXEC_INFO=%s", x->exec_info);
    size_t n = 0;
    for (size_t i = 0; i < nparent; i++) {
        const char *e = environ[i];
        size_t kl = strcspn(e, "=");
        int overridden = kl == strlen("KUBERNETES_EXEC_INFO") &&
                         strncmp(e, "KUBERNETES_EXEC_INFO", kl) == 0;
        for (size_t j = 0; j < x->nenv && !overridden; j++)
            overridden = strncmp(x->env[j], e, kl) == 0 && x->env[j][kl] == '=';
        if (!overridden)
            envp[n++] = (char *)e;
    }
    /* later duplicates in exec.env win, like Go's os/exec dedupEnv */
    for (size_t j = 0; j < x->nenv; j++) {
        size_t kl = strcspn(x->env[j], "=");
        int later = 0;
        for (size_t k = j + 1; k < x->nenv && !later; k++)
            later = strncmp(x->env[k], x->env[j], kl + 1) == 0;
        if (!later && strncmp(x->env[j], "KUBERNETES_EXEC_INFO=", 21) != 0)
            envp[n++] = x->env[j];
    }
    envp[n++] = *info;
    envp[n] = NULL;
    return envp;
}

/* First non-empty line of the plugin's stderr, trimmed and shortened. */
static void first_line(const char *s, size_t len, char *out, size_t outlen)
{
    size_t i = 0;
    out[0] = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && s[e] != '\n')
            e++;
        size_t a = i, b = e;
        while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r'))
            a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
            b--;
        if (b > a) {
            size_t n = LW_MIN(b - a, outlen - 1);
            n = LW_MIN(n, (size_t)200);
            for (size_t k = 0; k < n; k++) {
                unsigned char c = (unsigned char)s[a + k];
                out[k] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
            }
            out[n] = 0;
            return;
        }
        i = e + 1;
    }
}

static int spawn(struct lw__exec *x, pid_t *pid, int *out_fd, int *err_fd, struct lw_errbuf *eb)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (po[i] >= 0)
                close(po[i]);
            if (pe[i] >= 0)
                close(pe[i]);
        }
        return lw_errf(eb, LW_EIO, "exec plugin for %s: pipe: %s", x->what, strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGCHLD);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    char *info = NULL;
    char **envp = build_envp(x, &info);
    int rc = envp ? 0 : ENOMEM;
    if (!rc)
        rc = strchr(x->command, '/') ? posix_spawn(pid, x->command, &fa, &at, x->argv, envp)
                                     : posix_spawnp(pid, x->command, &fa, &at, x->argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(envp);
    free(info);
    close(po[1]);
    close(pe[1]);
    if (rc) {
        close(po[0]);
        close(pe[0]);
        if (rc == ENOENT)
            return lw_errf(eb, LW_ENOTFOUND, "exec plugin for %s: executable \"%s\" not found%s%s",
                           x->what, x->command, x->install_hint ? "; " : "",
                           x->install_hint ? x->install_hint : "");
        return lw_errf(eb, LW_EIO, "exec plugin for %s: cannot run \"%s\": %s", x->what,
                       x->command, strerror(rc));
    }
    *out_fd = po[0];
    *err_fd = pe[0];
    return LW_OK;
}

/* Wait for the child, at most until deadline; SIGKILL its group after that. */
static int reap(pid_t pid, double deadline, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR)
            return 1;
        if (lw__now_mono() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return 0;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int parse_output(struct lw__exec *x, const char *out, size_t len, struct lw_errbuf *eb)
{
    cJSON *root = cJSON_ParseWithLength(out, len);
    int rc = LW_EINVAL;
    const char *t = NULL, *c = NULL, *k = NULL;
    if (!root || !cJSON_IsObject(root)) {
        lw_errf(eb, LW_EINVAL, "exec plugin for %s: output is not a JSON ExecCredential",
                x->what);
        goto out;
    }
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(api) || strcmp(api->valuestring, x->api_version) != 0) {
        lw_errf(eb, LW_EINVAL,
                "exec plugin for %s: is configured to use API version %s, plugin returned "
                "version %.100s",
                x->what, x->api_version, cJSON_IsString(api) ? api->valuestring : "(none)");
        goto out;
    }
    if (kind && (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0)) {
        lw_errf(eb, LW_EINVAL, "exec plugin for %s: returned a kind other than ExecCredential",
                x->what);
        goto out;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsObject(st)) {
        lw_errf(eb, LW_EINVAL, "exec plugin for %s: didn't return a status field", x->what);
        goto out;
    }
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(st, "token");
    const cJSON *crt = cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(st, "clientKeyData");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
    t = cJSON_IsString(tok) && tok->valuestring[0] ? tok->valuestring : NULL;
    c = cJSON_IsString(crt) && crt->valuestring[0] ? crt->valuestring : NULL;
    k = cJSON_IsString(key) && key->valuestring[0] ? key->valuestring : NULL;
    if (!t && !c && !k) {
        lw_errf(eb, LW_EINVAL, "exec plugin for %s: didn't return a token or cert/key pair",
                x->what);
        goto out;
    }
    if (!c != !k) {
        lw_errf(eb, LW_EINVAL, "exec plugin for %s: returned only certificate or key, not both",
                x->what);
        goto out;
    }
    if (t) {
        for (const char *q = t; *q; q++) {
            if ((unsigned char)*q < 0x20 || *q == 0x7f) {
                lw_errf(eb, LW_EINVAL, "exec plugin for %s: token contains control characters",
                        x->what);
                goto out;
            }
        }
    }
    double expiry = 0;
    if (exp && !cJSON_IsNull(exp)) {
        if (!cJSON_IsString(exp) || lw__rfc3339_parse(exp->valuestring, &expiry)) {
            lw_errf(eb, LW_EINVAL,
                    "exec plugin for %s: expirationTimestamp is not an RFC 3339 time", x->what);
            goto out;
        }
    }
    if (c) {
        char why[200];
        if (lw__pem_check_pair(c, strlen(c), k, strlen(k), why, sizeof(why))) {
            lw_errf(eb, LW_EINVAL, "exec plugin for %s: clientCertificateData/clientKeyData: %s",
                    x->what, why);
            goto out;
        }
    }
    clear_cred(x);
    x->token = t ? strdup(t) : NULL;
    x->cert = c ? strdup(c) : NULL;
    x->key = k ? strdup(k) : NULL;
    x->cert_len = c ? strlen(c) : 0;
    x->key_len = k ? strlen(k) : 0;
    if ((t && !x->token) || (c && (!x->cert || !x->key))) {
        clear_cred(x);
        rc = lw_errf(eb, LW_ENOMEM, "out of memory");
        goto out;
    }
    x->expiry = expiry;
    x->have = 1;
    x->stale = 0;
    rc = LW_OK;
out:
    if (k && root) {   /* wipe key material from cJSON's copy */
        explicit_bzero((char *)k, strlen(k));
    }
    if (t && root)
        explicit_bzero((char *)t, strlen(t));
    cJSON_Delete(root);
    return rc;
}

int lw__exec_run(struct lw__exec *x, struct lw_errbuf *eb)
{
    pid_t pid = -1;
    int ofd = -1, efd = -1;
    int rc = spawn(x, &pid, &ofd, &efd, eb);
    if (rc)
        return rc;
    x->runs++;
    double deadline = lw__now_mono() + x->timeout_s;
    struct lw_buf out = LW_BUF_INIT(x->max_out);
    char errkeep[STDERR_KEEP];
    size_t errlen = 0;
    int too_big = 0, timed_out = 0;
    struct pollfd pf[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        double left = deadline - lw__now_mono();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int pr = poll(pf, 2, (int)(left * 1000) + 1);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[8192];
            ssize_t n = read(pf[i].fd, chunk, sizeof(chunk));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                if (lw_buf_append(&out, chunk, (size_t)n)) {
                    too_big = 1;
                    break;
                }
            } else if (errlen < sizeof(errkeep)) {
                size_t k = LW_MIN((size_t)n, sizeof(errkeep) - errlen);
                memcpy(errkeep + errlen, chunk, k);
                errlen += k;
            }
        }
        if (too_big)
            break;
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    if (too_big || timed_out)
        deadline = 0;   /* kill it now */
    int status = 0;
    int exited = reap(pid, too_big || timed_out ? 0 : deadline, &status);
    char line[256];
    first_line(errkeep, errlen, line, sizeof(line));
    if (too_big) {
        rc = lw_errf(eb, LW_ETOOBIG, "exec plugin for %s: \"%s\" wrote more than %zu bytes",
                     x->what, x->command, x->max_out);
    } else if (timed_out || !exited) {
        rc = lw_errf(eb, LW_EIO, "exec plugin for %s: \"%s\" did not finish within %g s%s%s",
                     x->what, x->command, x->timeout_s, line[0] ? ": " : "", line);
    } else if (WIFSIGNALED(status)) {
        rc = lw_errf(eb, LW_EIO, "exec plugin for %s: \"%s\" was killed by signal %d%s%s",
                     x->what, x->command, WTERMSIG(status), line[0] ? ": " : "", line);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && out.len == 0) {
        rc = lw_errf(eb, LW_ENOTFOUND, "exec plugin for %s: \"%s\" could not be run%s%s%s%s",
                     x->what, x->command, line[0] ? ": " : "", line,
                     x->install_hint ? "; " : "", x->install_hint ? x->install_hint : "");
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = lw_errf(eb, LW_EIO, "exec plugin for %s: \"%s\" failed with exit status %d%s%s",
                     x->what, x->command, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                     line[0] ? ": " : "", line);
    } else {
        rc = parse_output(x, out.data ? out.data : "", out.len, eb);
    }
    if (out.data)
        explicit_bzero(out.data, out.len);
    lw_buf_release(&out);
    return rc;
}
