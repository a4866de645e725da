/*
 * step.c — one job step as a child process on a libuv loop (see step.h).
 *
 * A step owns six libuv handles: the process, the read end of its output pipe
 * and four timers (wall clock, no output, the SIGTERM→SIGKILL grace period and
 * a short poll used while waiting for the rest of the group to die). Its life:
 *
 *   RUNNING ──timeout/cancel──▶ TERM sent ──grace──▶ KILL sent
 *      │                           │                    │
 *      └──── process exits ────────┴────────────────────┘
 *               │ other group members alive? → TERM them (leftovers)
 *               ▼
 *   wait for EOF on the pipe and, when TERM was sent, for the group to be
 *   empty (zombies do not count); both waits end one grace period after the
 *   SIGKILL (or after the exit, for a pipe held outside the group)
 *               ▼
 *   close the timers → the last close callback calls done() and frees the step.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np, POSIX_SPAWN_SETSID */
#include "step.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner-internal.h"
#include "core/banned.h"

#define STEP_READ_BUF (64u << 10)
#define STEP_OUT_BUF (64u << 10)
#define STEP_POLL_MS 10

enum kill_phase {
	PHASE_NONE,  /* the kill timer is idle */
	PHASE_TERM,  /* SIGTERM sent; SIGKILL when the timer fires */
	PHASE_DRAIN, /* the group is gone or killed; waiting for EOF until the timer fires */
};

struct step {
	uv_loop_t *loop;
	uv_process_t proc; /* the child, when uv_spawn() started it */
	uv_poll_t exitw;   /* or its pidfd, when posix_spawn() did (see step_spawn()) */
	int pidfd;
	uv_pipe_t out;
	uv_timer_t wall, idle, kill, poll;
	int open_handles; /* handles initialized and not yet closed */

	step_done_cb done;
	step_output_cb on_output;
	void *data;
	int (*terminate)(pid_t leader);

	pid_t pgid; /* the step's process id, also its group and session id */
	uint64_t idle_ms, cap, grace_ms;
	uint64_t last_output_ns;
	int log_fd;

	unsigned exited : 1, pipe_closed : 1, term_sent : 1, gave_up : 1, finished : 1, failed_start : 1,
	    at_line_start : 1, spawned : 1;
	enum kill_phase phase;
	struct step_result res;

	size_t olen;
	char obuf[STEP_OUT_BUF];
	/* The last STEP_TAIL_KEEP bytes of output past the cap: a ring, allocated on truncation. */
	char *tail;
	size_t tail_len, tail_end;
	int tail_cut; /* the kept tail starts inside a line: the cap cut it, or the ring dropped its start */
	char rbuf[STEP_READ_BUF];
};

static void step_maybe_finish(struct step *s);

const char *step_status_name(enum step_status status)
{
	switch (status) {
	case STEP_PASSED:
		return "passed";
	case STEP_FAILED:
		return "failed";
	case STEP_TIMED_OUT:
		return "timed out";
	case STEP_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

/* ---- /proc ---- */

int step__proc_scan(int (*fn)(const struct step__proc *p, void *data), void *data)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	int ret = 0;
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char path[32], buf[512];
		struct step__proc p;
		char *end, *close_paren;
		long pid;
		ssize_t n;
		int fd;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "%ld/stat", pid);
		fd = openat(dirfd(dir), path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* it exited meanwhile */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "PID (COMM) S PPID PGRP SESSION ..."; COMM may hold spaces and parentheses. */
		close_paren = strrchr(buf, ')');
		if (!close_paren || close_paren[1] != ' ' || !close_paren[2])
			continue;
		p.pid = (pid_t)pid;
		p.state = close_paren[2];
		p.ppid = (pid_t)strtol(close_paren + 3, &end, 10);
		p.pgrp = (pid_t)strtol(end, &end, 10);
		p.session = (pid_t)strtol(end, &end, 10);
		ret = fn(&p, data);
		if (ret)
			break;
	}
	closedir(dir);
	return ret;
}

static int step__live_member(const struct step__proc *p, void *data)
{
	pid_t pgid = *(const pid_t *)data;
	return p->pgrp == pgid && p->state != 'Z' && p->state != 'X';
}

/*
 * Whether a process of group `pgid` is still running. kill(-pgid, 0) also
 * succeeds for zombies, which an init that does not reap (containers) may keep
 * for ever, so a positive answer is confirmed against /proc.
 */
int step__group_alive(pid_t pgid)
{
	if (kill(-pgid, 0) < 0 && errno == ESRCH)
		return 0;
	return step__proc_scan(step__live_member, &pgid) > 0;
}

/* ---- the log ---- */

static void step_flush(struct step *s)
{
	size_t off = 0;
	if (!s->olen)
		return;
	if (s->log_fd >= 0) {
		while (off < s->olen) {
			ssize_t n = write(s->log_fd, s->obuf + off, s->olen - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				s->res.log_errno = n < 0 ? errno : EIO;
				close(s->log_fd);
				s->log_fd = -1;
				break;
			}
			off += (size_t)n;
		}
	}
	if (s->on_output)
		s->on_output(s, s->obuf, s->olen, s->res.log_bytes, s->data);
	s->res.log_bytes += s->olen;
	s->olen = 0;
}

static void step_append(struct step *s, const char *p, size_t n)
{
	while (n) {
		size_t room = sizeof(s->obuf) - s->olen, k = n < room ? n : room;
		memcpy(s->obuf + s->olen, p, k);
		s->olen += k;
		p += k;
		n -= k;
		if (s->olen == sizeof(s->obuf))
			step_flush(s);
	}
}

static size_t step_stamp(const struct step *s, uint64_t now_ns, char *buf, size_t size)
{
	uint64_t ms = (now_ns - s->res.started_ns) / 1000000u;
	int n = snprintf(buf, size, "[%4" PRIu64 ".%03" PRIu64 "] ", ms / 1000u, ms % 1000u);
	return n < 0 ? 0 : (size_t)n;
}

static void step_truncate(struct step *s, uint64_t now_ns)
{
	char line[128];
	size_t n;
	int k;
	s->res.truncated = 1;
	s->tail_cut = !s->at_line_start;
	if (!s->at_line_start)
		step_append(s, "\n", 1);
	n = step_stamp(s, now_ns, line, sizeof(line));
	k = snprintf(line + n, sizeof(line) - n,
		     "ripple: output truncated at %" PRIu64 " bytes; the middle is dropped\n", s->cap);
	step_append(s, line, n + (size_t)k);
	s->at_line_start = 1;
}

/* Remembers the last STEP_TAIL_KEEP bytes of what is dropped past the cap. */
static void step_tail_keep(struct step *s, const char *p, size_t n)
{
	if (!s->tail && !(s->tail = malloc(STEP_TAIL_KEEP)))
		return; /* the tail is a courtesy; the cap still holds */
	if (n > STEP_TAIL_KEEP) {
		p += n - STEP_TAIL_KEEP;
		n = STEP_TAIL_KEEP;
	}
	if (s->tail_len + n > STEP_TAIL_KEEP)
		s->tail_cut = 1;
	while (n) {
		size_t k = STEP_TAIL_KEEP - s->tail_end < n ? STEP_TAIL_KEEP - s->tail_end : n;
		memcpy(s->tail + s->tail_end, p, k);
		s->tail_end = (s->tail_end + k) % STEP_TAIL_KEEP;
		s->tail_len = s->tail_len + k > STEP_TAIL_KEEP ? STEP_TAIL_KEEP : s->tail_len + k;
		p += k;
		n -= k;
	}
}

/* Writes the kept tail after a second marker, from its first line start, each line stamped. */
static void step_tail_write(struct step *s)
{
	if (!s->tail_len)
		return;
	size_t len = s->tail_len, start = (s->tail_end + STEP_TAIL_KEEP - len) % STEP_TAIL_KEEP;
	char *t = malloc(len + 1);
	if (!t)
		return;
	for (size_t i = 0; i < len; i++)
		t[i] = s->tail[(start + i) % STEP_TAIL_KEEP];
	/* When the cap or the ring cut a line, the tail starts after the first newline. */
	char *from = s->tail_cut ? memchr(t, '\n', len) : NULL;
	from = from && (size_t)(from - t) + 1 < len ? from + 1 : t;
	size_t left = len - (size_t)(from - t);
	uint64_t now = uv_hrtime();
	char line[160];
	size_t n = step_stamp(s, now, line, sizeof(line));
	int k = snprintf(line + n, sizeof(line) - n, "ripple: the last %zu bytes of output follow\n", left);
	step_append(s, line, n + (size_t)k);
	int at_start = 1;
	while (left) {
		if (at_start) {
			char stamp[32];
			step_append(s, stamp, step_stamp(s, now, stamp, sizeof(stamp)));
		}
		char *nl = memchr(from, '\n', left);
		size_t seg = nl ? (size_t)(nl - from) + 1 : left;
		step_append(s, from, seg);
		at_start = nl != NULL;
		from += seg;
		left -= seg;
	}
	if (!at_start)
		step_append(s, "\n", 1);
	step_flush(s);
	free(t);
}

/* Appends what the step wrote, stamping each new line, until the cap. */
static void step_take_output(struct step *s, const char *p, size_t n, uint64_t now_ns)
{
	s->res.output_bytes += n;
	while (n && !s->res.truncated) {
		uint64_t logged = s->res.log_bytes + s->olen;
		const char *nl;
		size_t seg;
		if (s->at_line_start) {
			char stamp[32];
			size_t sl = step_stamp(s, now_ns, stamp, sizeof(stamp));
			if (logged + sl > s->cap) {
				step_truncate(s, now_ns);
				break;
			}
			step_append(s, stamp, sl);
			s->at_line_start = 0;
			logged += sl;
		}
		nl = memchr(p, '\n', n);
		seg = nl ? (size_t)(nl - p) + 1 : n;
		if (seg > s->cap - logged) {
			size_t fits = (size_t)(s->cap - logged);
			step_append(s, p, fits);
			p += fits;
			n -= fits;
			step_truncate(s, now_ns);
			break;
		}
		step_append(s, p, seg);
		p += seg;
		n -= seg;
		if (nl)
			s->at_line_start = 1;
	}
	if (s->res.truncated && n)
		step_tail_keep(s, p, n);
	step_flush(s);
}

/* ---- handles ---- */

static void step_on_close(uv_handle_t *h)
{
	struct step *s = h->data;
	if (--s->open_handles > 0)
		return;
	if (s->log_fd >= 0)
		close(s->log_fd);
	if (s->pidfd >= 0)
		close(s->pidfd);
	free(s->tail);
	if (!s->failed_start)
		s->done(s, &s->res, s->data);
	free(s);
}

static void step_close(struct step *s, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, step_on_close);
}

static void step_close_pipe(struct step *s)
{
	if (s->pipe_closed)
		return;
	s->pipe_closed = 1;
	uv_read_stop((uv_stream_t *)&s->out);
	step_close(s, (uv_handle_t *)&s->out);
}

static void step_finish(struct step *s)
{
	struct step_result *r = &s->res;
	if (s->finished)
		return;
	s->finished = 1;
	step_tail_write(s);
	if (r->cancelled)
		r->status = STEP_CANCELLED;
	else if (r->timeout != STEP_TIMEOUT_NONE)
		r->status = STEP_TIMED_OUT;
	else if (r->term_signal == 0 && r->exit_status == 0)
		r->status = STEP_PASSED;
	else
		r->status = STEP_FAILED;
	step_close(s, (uv_handle_t *)&s->wall);
	step_close(s, (uv_handle_t *)&s->idle);
	step_close(s, (uv_handle_t *)&s->kill);
	step_close(s, (uv_handle_t *)&s->poll);
}

static void step_on_kill_timer(uv_timer_t *t)
{
	struct step *s = t->data;
	if (s->phase == PHASE_TERM) {
		/* Once the leader is reaped and the group empty, its id may be reused: leave it alone. */
		if (!s->exited || step__group_alive(s->pgid)) {
			kill(-s->pgid, SIGKILL);
			s->res.killed = 1;
		}
		/* The group dies now; whoever else holds the pipe gets one more grace period. */
		s->phase = PHASE_DRAIN;
		uv_timer_start(&s->kill, step_on_kill_timer, s->grace_ms, 0);
		step_maybe_finish(s);
	} else if (s->phase == PHASE_DRAIN) {
		/* Nothing more to wait for: a holder of the pipe outside the group, or a process SIGKILL
		 * cannot end. */
		s->phase = PHASE_NONE;
		s->gave_up = 1;
		step_close_pipe(s);
		step_maybe_finish(s);
	}
}

/* SIGTERM to the group (through the backend's hook while the leader runs), SIGKILL after the grace. */
static void step_start_term(struct step *s)
{
	if (s->term_sent)
		return;
	s->term_sent = 1;
	uv_timer_stop(&s->wall);
	uv_timer_stop(&s->idle);
	if (s->exited || !s->terminate || s->terminate(s->pgid) < 0)
		kill(-s->pgid, SIGTERM);
	s->phase = PHASE_TERM;
	uv_timer_start(&s->kill, step_on_kill_timer, s->grace_ms, 0);
}

static void step_on_poll(uv_timer_t *t)
{
	struct step *s = t->data;
	if (s->gave_up || !step__group_alive(s->pgid)) {
		uv_timer_stop(&s->poll);
		step_finish(s);
	}
}

/*
 * The step ends once its process was reaped and its output read (or
 * abandoned), and, when the group was signalled, once no process of the group
 * runs any more (zombies aside): a SIGKILLed process closes its files before
 * it is gone, so EOF alone does not prove it. The drain period bounds it all.
 */
static void step_maybe_finish(struct step *s)
{
	if (s->finished || !s->exited || !s->pipe_closed)
		return;
	if (s->term_sent && !s->gave_up && step__group_alive(s->pgid)) {
		if (!uv_is_active((uv_handle_t *)&s->poll))
			uv_timer_start(&s->poll, step_on_poll, STEP_POLL_MS, STEP_POLL_MS);
		return;
	}
	step_finish(s);
}

static void step_on_wall(uv_timer_t *t)
{
	struct step *s = t->data;
	if (s->term_sent || s->exited)
		return;
	s->res.timeout = STEP_TIMEOUT_WALL;
	step_start_term(s);
}

static void step_on_idle(uv_timer_t *t)
{
	struct step *s = t->data;
	uint64_t quiet_ms = (uv_hrtime() - s->last_output_ns) / 1000000u;
	if (s->term_sent || s->exited)
		return;
	if (quiet_ms < s->idle_ms) {
		uv_timer_start(&s->idle, step_on_idle, s->idle_ms - quiet_ms + 1, 0);
		return;
	}
	s->res.timeout = STEP_TIMEOUT_IDLE;
	step_start_term(s);
}

static void step_exited(struct step *s, int64_t exit_status, int term_signal)
{
	s->exited = 1;
	s->res.ended_ns = uv_hrtime();
	s->res.duration_ms = (s->res.ended_ns - s->res.started_ns) / 1000000u;
	s->res.term_signal = term_signal;
	s->res.exit_status = term_signal ? -1 : (int)exit_status;
	uv_timer_stop(&s->wall);
	uv_timer_stop(&s->idle);
	step_close(s, s->spawned ? (uv_handle_t *)&s->exitw : (uv_handle_t *)&s->proc);
	if (!s->term_sent && step__group_alive(s->pgid)) {
		s->res.leftovers = 1;
		step_start_term(s);
	} else if (!s->pipe_closed && s->phase == PHASE_NONE) {
		/* Only a process outside the group can hold the pipe now: bound the wait. */
		s->phase = PHASE_DRAIN;
		uv_timer_start(&s->kill, step_on_kill_timer, s->grace_ms, 0);
	}
	step_maybe_finish(s);
}

static void step_on_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	step_exited(proc->data, exit_status, term_signal);
}

/* The pidfd of a child started by step_spawn() is readable: it exited. */
static void step_on_pidfd(uv_poll_t *h, int status, int events)
{
	struct step *s = h->data;
	int wstatus = 0;
	pid_t r;
	(void)status;
	(void)events;
	while ((r = waitpid(s->pgid, &wstatus, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return; /* not yet: readable only once it exited, but be sure */
	uv_poll_stop(h);
	if (r < 0) { /* reaped by someone else: how it ended is unknown, and no fault of the step's */
		s->res.lost = 1;
		step_exited(s, -1, 0);
	}
	else
		step_exited(s, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0,
			    WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
}

#ifdef SYS_pidfd_open
static int step_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}
#else
static int step_pidfd_open(pid_t pid)
{
	(void)pid;
	errno = ENOSYS;
	return -1;
}
#endif

/*
 * Whether steps can be started with posix_spawn() and watched through a pidfd:
 * the kernel must have pidfd_open (Linux 5.3) and let us use it (a seccomp
 * filter may not), and the child must stay ours to reap: with SIGCHLD ignored
 * or SA_NOCLDWAIT the kernel reaps it itself and its exit status is lost.
 * Probed once per process for the first, checked every time for the second
 * (a caller may change SIGCHLD). Otherwise uv_spawn() is used.
 */
static int step_spawn_usable(void)
{
	static int pidfd_state; /* 0: not probed, 1: works, 2: does not */
	int state = __atomic_load_n(&pidfd_state, __ATOMIC_ACQUIRE);
	if (!state) {
		int fd = step_pidfd_open(getpid());
		state = fd >= 0 ? 1 : 2;
		if (fd >= 0)
			close(fd);
		__atomic_store_n(&pidfd_state, state, __ATOMIC_RELEASE);
	}
	if (state != 1)
		return 0;
	struct sigaction sa;
	if (sigaction(SIGCHLD, NULL, &sa) < 0 || sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT))
		return 0;
	return 1;
}

/*
 * Starts the child as uv_spawn() would (a new session, stdin on /dev/null,
 * stdout and stderr on `out_fd`, default signal dispositions, nothing
 * blocked, exactly `opt->env`; glibc's own real-time signals 32 and 33 arrive
 * ignored, which it does not let a caller change) but without forking the engine: posix_spawn()
 * clones with CLONE_VM|CLONE_VFORK, so the engine's page tables are not
 * copied and none of its pages fault copy-on-write afterwards, which made a
 * fork cost more than a small step itself. The exit is watched on a pidfd.
 * Returns 0 (s->pgid is the child), a negative errno when the child could not
 * be started (a missing cwd or program), or 1 when this way is not available
 * (no pidfd, a program to search in PATH, stdout of the engine closed):
 * uv_spawn() is used then.
 */
static int step_spawn(struct step *s, const uv_process_options_t *opt, int out_fd, int stdout_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	pid_t pid;
	int r, fd;

	if (!step_spawn_usable() || !strchr(opt->file, '/') || out_fd <= 2 || (stdout_fd >= 0 && stdout_fd <= 2))
		return 1;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	sigfillset(&all);
	sigemptyset(&none);
	r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!r)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (!r)
		r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, stdout_fd >= 0 ? stdout_fd : out_fd, 1);
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	if (!r && opt->cwd)
		r = posix_spawn_file_actions_addchdir_np(&fa, opt->cwd);
	if (!r)
		r = posix_spawn(&pid, opt->file, &fa, &attr, opt->args, opt->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r)
		return -r;
	/* The child stays a zombie until it is reaped here, so its pid cannot be reused meanwhile. */
	fd = step_pidfd_open(pid);
	if (fd < 0 || uv_poll_init(s->loop, &s->exitw, fd) < 0) {
		r = fd < 0 ? errno : EIO;
		if (fd >= 0)
			close(fd);
		kill(-pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -r;
	}
	s->pidfd = fd;
	s->exitw.data = s;
	s->open_handles++;
	s->spawned = 1;
	s->pgid = pid;
	uv_poll_start(&s->exitw, UV_READABLE, step_on_pidfd);
	return 0;
}

static void step_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct step *s = h->data;
	*buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

static void step_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct step *s = stream->data;
	if (nread > 0) {
		s->last_output_ns = uv_hrtime();
		step_take_output(s, buf->base, (size_t)nread, s->last_output_ns);
		return;
	}
	if (nread == 0)
		return; /* EAGAIN */
	step_close_pipe(s);
	step_maybe_finish(s);
}

/* ---- public ---- */

void step_cancel(struct step *s)
{
	if (s->finished || s->exited || s->term_sent)
		return;
	s->res.cancelled = 1;
	step_start_term(s);
}

pid_t step_pid(const struct step *s)
{
	return s->exited ? 0 : s->pgid;
}

static void step_init_timer(struct step *s, uv_timer_t *t)
{
	uv_timer_init(s->loop, t);
	t->data = s;
	s->open_handles++;
}

int step_start(uv_loop_t *loop, const struct step_spec *spec, step_done_cb done, void *data,
	       struct step **out, struct rp_error *err)
{
	static const char *const no_env[] = {NULL};
	uv_process_options_t opt;
	uv_stdio_container_t stdio[3];
	uv_file fds[2] = {-1, -1};
	int stdout_fd = -1;
	char **shell_argv = NULL;
	struct step *s = NULL;
	int ret, r;

	*out = NULL;
	if (!loop || !spec || !done || (!spec->argv && !spec->script) || (spec->argv && !spec->argv[0]))
		return rp_error_set(err, RP_EINVAL,
				    "step: a loop, a done callback and a script or argv are needed");
	s = calloc(1, sizeof(*s));
	if (!s)
		return rp_error_set(err, RP_ENOMEM, "step: out of memory");
	s->loop = loop;
	s->done = done;
	s->data = data;
	s->on_output = spec->on_output;
	s->terminate = spec->terminate;
	s->idle_ms = spec->idle_timeout_ms;
	s->cap = spec->output_cap ? spec->output_cap : STEP_OUTPUT_CAP_DEFAULT;
	s->grace_ms = spec->grace_ms ? spec->grace_ms : STEP_GRACE_MS_DEFAULT;
	s->at_line_start = 1;
	s->log_fd = -1;
	s->pidfd = -1;

	if (!spec->argv) {
		ret = step_shell_argv(spec->script, &spec->limits, &shell_argv, err);
		if (ret < 0)
			goto out;
	}
	if (spec->log_path) {
		s->log_fd = open(spec->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (s->log_fd < 0) {
			ret = rp_error_set(err, RP_EIO, "step: cannot create log %s: %s", spec->log_path,
					   strerror(errno));
			goto out;
		}
	}
	if (spec->stdout_path) {
		stdout_fd = open(spec->stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (stdout_fd < 0) {
			ret = rp_error_set(err, RP_EIO, "step: cannot create %s: %s", spec->stdout_path,
					   strerror(errno));
			goto out;
		}
	}
	r = uv_pipe(fds, 0, 0);
	if (r < 0) {
		ret = rp_error_set(err, RP_EIO, "step: cannot make a pipe: %s", uv_strerror(r));
		goto out;
	}
	uv_pipe_init(loop, &s->out, 0);
	s->out.data = s;
	s->open_handles++;
	r = uv_pipe_open(&s->out, fds[0]);
	if (r < 0) {
		close(fds[0]);
		ret = rp_error_set(err, RP_EIO, "step: cannot watch the pipe: %s", uv_strerror(r));
		goto out;
	}
	fds[0] = -1; /* owned by s->out now */

	memset(&opt, 0, sizeof(opt));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null */
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = stdout_fd >= 0 ? stdout_fd : fds[1];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fds[1];
	opt.exit_cb = step_on_exit;
	opt.args = spec->argv ? (char **)spec->argv : shell_argv;
	opt.file = opt.args[0];
	opt.env = (char **)(spec->env ? spec->env : no_env);
	opt.cwd = spec->cwd;
	opt.flags = UV_PROCESS_DETACHED; /* setsid(): a group of its own, no controlling terminal */
	opt.stdio_count = 3;
	opt.stdio = stdio;
	s->proc.data = s;
	s->res.started_ns = s->last_output_ns =
	    uv_hrtime(); /* the script may run before uv_spawn() returns */
	r = step_spawn(s, &opt, fds[1], stdout_fd);
	if (r == 1) {
		r = uv_spawn(loop, &s->proc, &opt);
		s->open_handles++; /* uv_spawn initialized the handle, even on failure */
		if (r >= 0)
			s->pgid = s->proc.pid;
	}
	close(fds[1]);
	fds[1] = -1;
	if (r < 0) {
		ret = rp_error_set(err, RP_EIO, "step: cannot start %s%s%s: %s", opt.file,
				   spec->cwd ? " in " : "", spec->cwd ? spec->cwd : "", uv_strerror(r));
		goto out;
	}
	uv_update_time(loop); /* the timeouts count from now, not from the loop's last turn */

	step_init_timer(s, &s->wall);
	step_init_timer(s, &s->idle);
	step_init_timer(s, &s->kill);
	step_init_timer(s, &s->poll);
	uv_read_start((uv_stream_t *)&s->out, step_on_alloc, step_on_read);
	/* +1: libuv's clock has whole milliseconds, and a timeout must not fire early. */
	if (spec->timeout_ms)
		uv_timer_start(&s->wall, step_on_wall, spec->timeout_ms + 1, 0);
	if (s->idle_ms)
		uv_timer_start(&s->idle, step_on_idle, s->idle_ms, 0);
	*out = s;
	ret = 0;
out:
	step_argv_free(shell_argv);
	if (fds[1] >= 0)
		close(fds[1]);
	if (stdout_fd >= 0)
		close(stdout_fd); /* the child has its own copy */
	if (ret < 0 && s) {
		if (!s->open_handles) {
			if (s->log_fd >= 0)
				close(s->log_fd);
			free(s);
		} else {
			/* The loop frees it when the handles are closed; done never fires. */
			s->failed_start = 1;
			s->pipe_closed = 1;
			uv_close((uv_handle_t *)&s->out, step_on_close);
			if (s->open_handles > 1) /* uv_spawn() failed; a failed step_spawn() leaves no handle */
				uv_close((uv_handle_t *)&s->proc, step_on_close);
		}
	}
	return ret;
}

struct step_sync {
	struct step_result *res;
	step_output_cb on_output;
	void *data;
};

static void step_sync_output(struct step *s, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct step_sync *sync = data;
	sync->on_output(s, chunk, len, offset, sync->data);
}

static void step_sync_done(struct step *s, const struct step_result *res, void *data)
{
	struct step_sync *sync = data;
	*sync->res = *res;
}

int step_run_sync(const struct step_spec *spec, void *data, struct step_result *res, struct rp_error *err)
{
	struct step_sync sync = {res, spec->on_output, data};
	struct step_spec copy = *spec;
	uv_loop_t loop;
	struct step *s;
	int ret, r;

	memset(res, 0, sizeof(*res));
	r = uv_loop_init(&loop);
	if (r < 0)
		return rp_error_set(err, RP_EIO, "step: cannot make a loop: %s", uv_strerror(r));
	if (copy.on_output)
		copy.on_output = step_sync_output;
	ret = step_start(&loop, &copy, step_sync_done, &sync, &s, err);
	uv_run(&loop, UV_RUN_DEFAULT); /* also frees a step that failed to start */
	uv_loop_close(&loop);
	return ret;
}

int step_shell_argv(const char *script, const struct step_limits *limits, char ***argv_out,
		    struct rp_error *err)
{
	const struct step_limits none = {0};
	char prologue[512];
	size_t used = 0;
	char **argv;
	int n = 0;

	*argv_out = NULL;
	if (!limits)
		limits = &none;
#define STEP__ULIMIT(flag, value)                                                                            \
	if (value)                                                                                           \
		used +=                                                                                      \
		    (size_t)snprintf(prologue + used, sizeof(prologue) - used,                               \
				     "%sulimit -" flag " %" PRIu64, used ? " && " : "", (uint64_t)(value));
	STEP__ULIMIT("t", limits->cpu_seconds)
	STEP__ULIMIT("v", limits->address_space / 1024u)
	STEP__ULIMIT("n", limits->open_files)
	STEP__ULIMIT("f", limits->file_size / 512u)
#undef STEP__ULIMIT
	argv = calloc(6, sizeof(*argv));
	if (!argv)
		return rp_error_set(err, RP_ENOMEM, "step: out of memory");
	argv[n++] = strdup("/bin/sh");
	argv[n++] = strdup("-c");
	if (used) {
		snprintf(prologue + used, sizeof(prologue) - used, " || exit 125; exec /bin/sh -c \"$1\"");
		argv[n++] = strdup(prologue);
		argv[n++] = strdup("sh");
	}
	argv[n++] = strdup(script);
	for (int i = 0; i < n; i++) {
		if (!argv[i]) {
			for (int j = 0; j < n; j++)
				free(argv[j]);
			free(argv);
			return rp_error_set(err, RP_ENOMEM, "step: out of memory");
		}
	}
	*argv_out = argv;
	return 0;
}

void step_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int step_find_program(const char *name, char *out, size_t size)
{
	if (strchr(name, '/'))
		return snprintf(out, size, "%s", name) < (int)size && access(name, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		int n = len ? snprintf(out, size, "%.*s/%s", (int)len, path, name)
			    : snprintf(out, size, "./%s", name);
		struct stat st;
		if (n > 0 && (size_t)n < size && access(out, X_OK) == 0 && stat(out, &st) == 0 &&
		    S_ISREG(st.st_mode))
			return 1;
		if (!end)
			break;
		path = end + 1;
	}
	return 0;
}
