/*
 * backend_sandbox.c — the `sandbox` backend (the unix default): every step in
 * a fresh bubblewrap container.
 *
 * What a sandboxed step sees (the arguments are built once at open, the
 * job's binds at prepare; docs/internals/steps.md says why for each):
 *   /usr, and /bin /sbin /lib* as the host has them (symlinks or read-only binds)
 *   a few read-only files of /etc (alternatives, the dynamic linker's cache,
 *     passwd/group, nsswitch, hosts, services, protocols); nothing else of /etc
 *   /proc of its own PID namespace, a minimal /dev, a private /tmp (tmpfs),
 *     /var/tmp pointing at it
 *   /ripple/src (the workspace) and /ripple/prefix (the install prefix): the
 *     only writable binds; /ripple/sysroot read-only
 *   a read-only root everything else hangs from; no network (a fresh, empty
 *     network namespace: not even the host's loopback); its own IPC, UTS
 *     (hostname "ripple"), PID and user namespaces; no capabilities; a new
 *     session (no terminal to inject input into); dies with the worker.
 * Resource limits are set by the step's shell before it runs the script
 * (step_shell_argv()), inside the sandbox, so bwrap itself is not bound by them.
 *
 * Termination: the process the step module spawns is bwrap's outer half; if it
 * received SIGTERM it would die at once and take the sandbox down with
 * SIGKILL (--die-with-parent), so a step would never see its SIGTERM. The
 * terminate hook below sends SIGTERM to the processes of the sandbox's PID
 * namespace instead; the SIGKILL after the grace period goes to bwrap's group
 * and ends the namespace, setsid()ed daemons included.
 */
#include "backend.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner-internal.h"
#include "core/banned.h"

#define SANDBOX_PROBE_TIMEOUT_MS 10000u
#define SANDBOX_MAX_ARGS 96

struct sandbox {
	struct backend base;
	char *bwrap;
	char **args; /* bwrap and the arguments every job shares; NULL-terminated */
	size_t n_args;
};

/* Read-only if the host has them; nothing else of /etc is visible. */
/* clang-format off */
static const char *const sandbox_etc[] = {
	"/etc/alternatives",                    /* Debian's cc, c++, awk, ... are symlinks through it */
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/passwd", "/etc/group",            /* id, whoami, getpwuid() */
	"/etc/nsswitch.conf", "/etc/hosts",     /* "localhost" resolves */
	"/etc/services", "/etc/protocols",
};
/* clang-format on */

/* Top-level entries that are symlinks into /usr on merged-/usr systems, or directories elsewhere. */
static const char *const sandbox_root_links[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

static int sandbox_push(struct sandbox *sb, const char *a, const char *b, const char *c)
{
	const char *const in[3] = {a, b, c};
	for (int i = 0; i < 3 && in[i]; i++) {
		if (sb->n_args + 1 >= SANDBOX_MAX_ARGS)
			return -1;
		sb->args[sb->n_args] = strdup(in[i]);
		if (!sb->args[sb->n_args])
			return -1;
		sb->n_args++;
	}
	return 0;
}

static int sandbox_build_args(struct sandbox *sb)
{
	/* clang-format off */
	static const char *const flags[] = {
		"--unshare-user-try", "--cap-drop", "ALL",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
		"--die-with-parent", "--new-session",
		"--hostname", "ripple",
	};
	/* clang-format on */
	int ret = 0;
	sb->args = calloc(SANDBOX_MAX_ARGS, sizeof(*sb->args));
	if (!sb->args)
		return -1;
	ret |= sandbox_push(sb, sb->bwrap, NULL, NULL);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		ret |= sandbox_push(sb, flags[i], NULL, NULL);
	ret |= sandbox_push(sb, "--ro-bind", "/usr", "/usr");
	for (size_t i = 0; i < sizeof(sandbox_root_links) / sizeof(sandbox_root_links[0]); i++) {
		const char *path = sandbox_root_links[i];
		char target[256];
		struct stat st;
		ssize_t n;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlink(path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			ret |= sandbox_push(sb, "--symlink", target, path);
		} else if (S_ISDIR(st.st_mode)) {
			ret |= sandbox_push(sb, "--ro-bind", path, path);
		}
	}
	for (size_t i = 0; i < sizeof(sandbox_etc) / sizeof(sandbox_etc[0]); i++)
		ret |= sandbox_push(sb, "--ro-bind-try", sandbox_etc[i], sandbox_etc[i]);
	ret |= sandbox_push(sb, "--proc", "/proc", NULL);
	ret |= sandbox_push(sb, "--dev", "/dev", NULL);
	ret |= sandbox_push(sb, "--tmpfs", "/tmp", NULL);
	ret |= sandbox_push(sb, "--symlink", "../tmp", "/var/tmp");
	return ret;
}

/* ---- terminate: SIGTERM to the processes of the sandbox's PID namespace ---- */

struct sandbox_find {
	pid_t parent, child;
};

static int sandbox_find_child(const struct step__proc *p, void *data)
{
	struct sandbox_find *f = data;
	if (p->ppid != f->parent)
		return 0;
	f->child = p->pid;
	return 1;
}

struct sandbox_term {
	dev_t dev;
	ino_t ino;
	pid_t init;
	int sent;
};

static int sandbox_term_member(const struct step__proc *p, void *data)
{
	struct sandbox_term *t = data;
	char path[48];
	struct stat st;
	if (p->pid == t->init || p->state == 'Z')
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/ns/pid", (long)p->pid);
	if (stat(path, &st) < 0 || st.st_dev != t->dev || st.st_ino != t->ino)
		return 0;
	if (kill(p->pid, SIGTERM) == 0)
		t->sent++;
	return 0;
}

/*
 * `leader` is bwrap's outer process; its only child is the namespace's init
 * (bwrap too), whose children are the step. The namespace is identified by
 * the inode of /proc/PID/ns/pid, so a process that changed its session or
 * group is found as well. Returns -1 (kill the group instead) when the
 * sandbox is not up yet or already empty.
 */
static int sandbox_terminate(pid_t leader)
{
	struct sandbox_find f = {leader, 0};
	struct sandbox_term t = {0};
	char path[48];
	struct stat st;
	if (step__proc_scan(sandbox_find_child, &f) <= 0 || !f.child)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/ns/pid", (long)f.child);
	if (stat(path, &st) < 0)
		return -1;
	t.dev = st.st_dev;
	t.ino = st.st_ino;
	t.init = f.child;
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_dev == t.dev && st.st_ino == t.ino)
		return -1; /* not unshared yet */
	step__proc_scan(sandbox_term_member, &t);
	return t.sent ? 0 : -1;
}

/* ---- jobs ---- */

static int sandbox_prepare_job(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			       backend_job_cb cb, void *data, struct rp_error *err)
{
	struct sandbox *sb = (struct sandbox *)b;
	static const struct backend_paths in_job = {
	    .workspace = BACKEND_SANDBOX_WORKSPACE,
	    .prefix = BACKEND_SANDBOX_PREFIX,
	    .sysroot = BACKEND_SANDBOX_SYSROOT,
	    .tmp = "/tmp",
	};
	/* clang-format off */
	const char *tail[] = {
		"--bind", spec->workspace, BACKEND_SANDBOX_WORKSPACE,
		"--bind", spec->prefix, BACKEND_SANDBOX_PREFIX,
		"--ro-bind", spec->sysroot, BACKEND_SANDBOX_SYSROOT, /* [6..8]: only with a sysroot */
		"--remount-ro", "/", /* last: bwrap makes the mount points above in the root first */
	};
	/* clang-format on */
	struct backend__local_job *job;
	size_t n = 0;
	int ret;

	ret = backend__local_prepare(b, loop, spec, &in_job, cb, data, &job, err);
	if (ret < 0)
		return ret;
	job->terminate = sandbox_terminate;
	job->wrap_argv = calloc(sb->n_args + sizeof(tail) / sizeof(tail[0]) + 1, sizeof(*job->wrap_argv));
	if (!job->wrap_argv)
		goto nomem;
	for (size_t i = 0; i < sb->n_args; i++)
		if (!(job->wrap_argv[n++] = strdup(sb->args[i])))
			goto nomem;
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
		if (i >= 6 && i < 9 && !spec->sysroot)
			continue;
		if (!(job->wrap_argv[n++] = strdup(tail[i])))
			goto nomem;
	}
	return 0;
nomem:
	backend__local_abort(job);
	return rp_error_set(err, RP_ENOMEM, "sandbox: out of memory");
}

/* ---- open ---- */

static void sandbox_close(struct backend *b)
{
	struct sandbox *sb = (struct sandbox *)b;
	step_argv_free(sb->args);
	free(sb->bwrap);
	free(sb);
}

/* The first path in $PATH where `name` is executable; NULL when none. */
static char *sandbox_which(const char *name)
{
	const char *path = getenv("PATH"), *p;
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	for (p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":"), ln = strlen(name);
		char *cand = malloc(len + ln + 2);
		if (!cand)
			return NULL;
		memcpy(cand, p, len);
		cand[len] = '/';
		memcpy(cand + len + 1, name, ln + 1);
		if (len && cand[0] == '/' && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		p += len;
		p += *p == ':';
	}
	return NULL;
}

struct sandbox_probe {
	char text[512];
	size_t len;
};

static void sandbox_probe_output(struct step *s, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct sandbox_probe *pr = data;
	size_t room = sizeof(pr->text) - 1 - pr->len;
	if (len > room)
		len = room;
	memcpy(pr->text + pr->len, chunk, len);
	pr->len += len;
	pr->text[pr->len] = '\0';
}

/* Runs `true` in a sandbox shaped like a job's, so a host that cannot run one is told at open. */
static int sandbox_probe(struct sandbox *sb, const struct backend_options *opts, struct rp_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	/* clang-format off */
	const char *tail[] = {
		"--bind", dir, BACKEND_SANDBOX_WORKSPACE, "--remount-ro", "/", "--chdir", BACKEND_SANDBOX_WORKSPACE,
		"/bin/sh", "-c", "exit 0", NULL,
	};
	/* clang-format on */
	const char **argv = NULL;
	struct sandbox_probe pr = {{0}, 0};
	struct step_spec spec = {0};
	struct step_result res;
	size_t n = 0;
	char *line;
	int ret;

	snprintf(dir, sizeof(dir), "%s/ripple-probe-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return rp_error_set(err, RP_EIO, "sandbox: cannot make a probe directory: %s",
				    strerror(errno));
	argv = calloc(sb->n_args + sizeof(tail) / sizeof(tail[0]), sizeof(*argv));
	if (!argv) {
		ret = rp_error_set(err, RP_ENOMEM, "sandbox: out of memory");
		goto out;
	}
	for (size_t i = 0; i < sb->n_args; i++)
		argv[n++] = sb->args[i];
	for (size_t i = 0; tail[i]; i++)
		argv[n++] = tail[i];
	spec.argv = argv;
	spec.timeout_ms = opts && opts->probe_timeout_ms ? opts->probe_timeout_ms : SANDBOX_PROBE_TIMEOUT_MS;
	spec.grace_ms = 1000;
	spec.on_output = sandbox_probe_output;
	ret = step_run_sync(&spec, &pr, &res, err);
	if (ret < 0)
		goto out;
	if (res.status == STEP_PASSED) {
		ret = 0;
		goto out;
	}
	line = pr.len > STEP_STAMP_LEN ? pr.text + STEP_STAMP_LEN : pr.text;
	line[strcspn(line, "\n")] = '\0';
	if (res.status == STEP_TIMED_OUT)
		ret = rp_error_set(err, RP_EIO, "sandbox: %s did not start a sandbox within %" PRIu64 " ms",
				   sb->bwrap, spec.timeout_ms);
	else
		ret = rp_error_set(
		    err, RP_EIO,
		    "sandbox: %s cannot make a sandbox here (exit %d): %s; it needs unprivileged "
		    "user namespaces (or a setuid bwrap)",
		    sb->bwrap, res.exit_status, line[0] ? line : "no message");
out:
	rmdir(dir);
	free(argv);
	return ret;
}

static const struct backend_ops sandbox_ops = {
    .name = "sandbox",
    .prepare_job = sandbox_prepare_job,
    .start_step = backend__local_start_step,
    .finish_job = backend__local_finish,
    .close = sandbox_close,
};

int backend__sandbox_open(const struct rp_target *target, const struct backend_options *opts,
			  struct backend **out, struct rp_error *err)
{
	const char *name = opts && opts->bwrap ? opts->bwrap : "bwrap";
	struct sandbox *sb = calloc(1, sizeof(*sb));
	int ret;
	if (!sb)
		return rp_error_set(err, RP_ENOMEM, "sandbox: out of memory");
	sb->base.ops = &sandbox_ops;
	sb->base.runner = RP_RUNNER_SANDBOX;
	sb->bwrap = sandbox_which(name);
	if (!sb->bwrap) {
		ret = rp_error_set(
		    err, RP_ENOTFOUND,
		    "target \"%s\": bubblewrap (%s) not found%s; install it (Debian: apt install "
		    "bubblewrap) or use the process runner for trusted code",
		    target->name, name, strchr(name, '/') ? "" : " in PATH");
		goto out;
	}
	if (sandbox_build_args(sb) < 0) {
		ret = rp_error_set(err, RP_ENOMEM, "sandbox: out of memory");
		goto out;
	}
	ret = sandbox_probe(sb, opts, err);
out:
	if (ret < 0)
		sandbox_close(&sb->base);
	else
		*out = &sb->base;
	return ret;
}
