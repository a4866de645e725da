/*
 * runner-internal.h — what the files of runner/ share and nothing else uses:
 * the /proc scan that step.c and the sandbox use to find a step's processes,
 * and the constructors of the backends that backend_open() dispatches to.
 */
#ifndef RIPPLE_RUNNER_INTERNAL_H
#define RIPPLE_RUNNER_INTERNAL_H

#include <limits.h>
#include <sys/types.h>

#include <uv.h>

#include "backend.h"
#include "core/error.h"
#include "vm.h"

/* One line of /proc/PID/stat, the fields the runner needs. */
struct step__proc {
	pid_t pid;
	char state; /* 'R', 'S', 'D', 'Z' (zombie), ... */
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
};

/*
 * Calls `fn` for every process in /proc (those that vanish meanwhile are
 * skipped) until it returns non-zero; returns that value, 0 when the scan ran
 * to its end, or -errno when /proc cannot be read.
 */
int step__proc_scan(int (*fn)(const struct step__proc *p, void *data), void *data);

/* Whether a process of group `pgid` runs (zombies do not count). */
int step__group_alive(pid_t pgid);

/*
 * A job of a backend that runs its steps as local processes (process,
 * sandbox): backend_process.c implements it, the sandbox adds its binds.
 */
struct backend__local_job {
	struct backend_job base; /* base.paths point into in_* below */
	uv_loop_t *loop;
	uv_timer_t defer; /* calls the prepare and finish callbacks on a later loop turn */
	backend_job_cb cb;
	void *cb_data;
	int finishing;
	struct step_limits limits;
	char *workspace, *prefix, *sysroot;		      /* host paths */
	char *in_workspace, *in_prefix, *in_sysroot, *in_tmp; /* what the steps see */
	char *env_set[5]; /* "NAME=VALUE" the backend puts over every step's env; NULL-terminated */
	char **wrap_argv; /* sandbox: bwrap and its arguments, up to the command; NULL: run directly */
	int (*terminate)(pid_t leader); /* the step_spec hook of the job's steps */
};

/*
 * Checks `spec`'s directories, allocates a job with the given in-job paths
 * (NULL: the host paths) and arms its deferred `cb`. The caller may still
 * change the job before returning to the loop.
 */
int backend__local_prepare(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			   const struct backend_paths *in_job, backend_job_cb cb, void *data,
			   struct backend__local_job **out, struct rp_error *err);

/* Frees a job whose prepare callback has not run yet; the callback never fires. */
void backend__local_abort(struct backend__local_job *job);

/*
 * The environment of one step: `env` without the names the backend sets, then
 * job->env_set. The array is the caller's to free(); its strings are borrowed.
 */
int backend__local_env(const struct backend__local_job *job, const char *const *env, char ***out,
		       struct rp_error *err);

/* `rel` (NULL, or relative without "..") under `base`; the caller frees *out. RP_EINVAL, RP_ENOMEM. */
int backend__local_cwd(const char *base, const char *rel, char **out, struct rp_error *err);

/*
 * Runs a step of a local job: the script under the job's limits, through
 * wrap_argv (then "--chdir CWD" is added) or directly in CWD on the host.
 */
int backend__local_start_step(struct backend_job *job, const struct step_spec *spec, step_done_cb done,
			      void *data, struct step **out, struct rp_error *err);

int backend__local_finish(struct backend_job *job, backend_job_cb cb, void *data, struct rp_error *err);

int backend__process_open(const struct rp_target *target, const struct backend_options *opts,
			  struct backend **out, struct rp_error *err);
int backend__sandbox_open(const struct rp_target *target, const struct backend_options *opts,
			  struct backend **out, struct rp_error *err);

/* ---- vm.c's pieces, which backend_vm.c drives on a loop ---- */

#define VM__SCAN_LINE 4096
#define VM__SCAN_TAIL 6
#define VM__SCAN_TAIL_LEN 160

/*
 * Reads a VM's console as it streams: the step's stamped log lines, in chunks
 * cut anywhere. Keeps only what judging the VM needs (the framed lines, a
 * panic line, the last non-blank lines), so a console of any length costs a
 * few KiB.
 */
struct vm__scan {
	char line[VM__SCAN_LINE];
	size_t line_len;
	int have_boot, have_status;
	uint64_t boot_ms;
	long exit_code;
	int saw_tag, saw_linux, saw_microvm;
	char panic[128];
	char tail[VM__SCAN_TAIL][VM__SCAN_TAIL_LEN];
	size_t tail_next;
};

void vm__scan_init(struct vm__scan *sc);
void vm__scan_feed(struct vm__scan *sc, const char *chunk, size_t len);
/*
 * The outcome (vm.h's contract) of a VM whose QEMU step ended with `res`:
 * fills r->status, exit_code, boot_ms and why; nothing else of *r.
 */
void vm__scan_judge(struct vm__scan *sc, const struct step_result *res, uint64_t timeout_ms, struct vm_result *r);
/* The console's last non-blank lines, joined by " | ", into buf (for a guest's error line). */
void vm__scan_tail(const struct vm__scan *sc, char *buf, size_t size);

/* A boot ready to run: the initramfs written, QEMU's command line in argv. */
struct vm__boot {
	char qemu[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
	char output[PATH_MAX];		    /* the output port's host file (vm_options.output), or "" */
	char prlimit[PATH_MAX];		    /* with an output port: QEMU runs under prlimit(1), capped at output_max */
	uint64_t output_max;		    /* vm_options.output_max, resolved */
	char fsize[40];			    /* its --fsize= argument */
	char output_chardev[2 * PATH_MAX + 32]; /* QEMU's -chardev for it */
	char accel[8], mem[16], smp[16], append[1024];
	int network;
	const char *argv[48]; /* points into this struct: it must not move */
};

/*
 * Blocking: finds kernel, QEMU, init and busybox, decides the acceleration
 * and writes the initramfs; vm_run()'s errors. On success the caller runs
 * b->argv as a step and calls vm__boot_release() after it, whatever happened.
 */
int vm__boot_prepare(const struct vm_options *o, const struct vm_payload *p, struct vm__boot *b,
		     struct rp_error *err);
/*
 * vm__boot_prepare() for a guest that another hypervisor boots (xen):
 * with_qemu 0 neither looks for QEMU nor decides an acceleration (accel is
 * "none") nor fills argv; kernel, initrd and append are as for QEMU.
 */
int vm__guest_prepare(const struct vm_options *o, const struct vm_payload *p, int with_qemu, struct vm__boot *b,
		      struct rp_error *err);
/* Removes the initramfs and the output port's file. */
void vm__boot_release(struct vm__boot *b);
/* QEMU's command line for machine microvm (pc = 0) or pc. */
void vm__boot_argv(struct vm__boot *b, int pc);
/* Whether this process boots with -M pc because QEMU rejected microvm. */
int vm__machine_pc(void);
/* Whether a boot's failure is QEMU rejecting microvm; if so, pc is used from now on. */
int vm__microvm_rejected(const struct vm__scan *sc, const struct step_result *res);

/* ---- guest_payload.c ---- */

#define BACKEND_GUEST_FILES_MAX 100000
#define BACKEND_GUEST_BYTES_MAX (256u << 20)

/* A directory of the job as the guest sees it (`guest`) and where it is on the host. */
struct backend__guest_map {
	const char *guest;
	const char *host; /* NULL: the job has none */
};

/*
 * The files a guest gets: every file matching `patterns` (glob(3), relative
 * to the source tree, maps[0]; a directory brings what it holds), at the same
 * place under maps[0].guest, and for every dynamic ELF among them its loader
 * and the shared libraries it needs, recursively, each where the guest's
 * loader will look for it: DT_RUNPATH (else DT_RPATH, $ORIGIN expanded), then
 * `ld_library_path` (guest paths, ':'-separated), then the directories of the
 * payload's files and the tree's top, then the system's library
 * directories. Guest paths under a map's guest directory are read from its
 * host directory; others are the host's own (the system's libraries).
 * Errors (one line): RP_EINVAL (a pattern matching nothing, a library found
 * nowhere, too many files or bytes), RP_EIO, RP_ENOMEM. On success the caller
 * frees *files with backend__guest_payload_free().
 */
int backend__guest_payload(const struct backend__guest_map *maps, size_t n_maps, const char *const *patterns,
			   size_t n_patterns, const char *ld_library_path, struct vm_file **files, size_t *n_files,
			   struct rp_error *err);
void backend__guest_payload_free(struct vm_file *files, size_t n);

/* ---- guest jobs (backend_vm.c): the vm and xen backends' host side and guest boot ---- */

/*
 * A job of a backend that boots guests: build and prepare run as steps of a
 * sandbox job (`host`), and a guest step boots the job's payload. Backends
 * use it as their struct backend_job (its first member is one).
 */
struct backend__guest_job {
	struct backend_job base;  /* paths: the host side's (the sandbox's fixed paths) */
	struct backend_job *host; /* a sandbox job: a backend__local_job */
	uv_loop_t *loop;
	char *workspace, *prefix, *sysroot; /* host directories */
	backend_job_cb cb;
	void *cb_data;
};

/* An integer option of target `t` in [lo, hi] into *out: 1 when given, 0 when absent, < 0 (one line) when bad. */
int backend__int_option(const struct rp_target *t, const char *name, long lo, long hi, unsigned *out,
			struct rp_error *err);

/* prepare_job of backend `b`, whose host side is the sandbox backend `host`. */
int backend__guest_prepare(struct backend *b, struct backend *host, uv_loop_t *loop,
			   const struct backend_job_spec *spec, backend_job_cb cb, void *data, struct rp_error *err);
/* start_step and finish_job of a guest job: the host side's. */
int backend__guest_start_step(struct backend_job *job, const struct step_spec *spec, step_done_cb done, void *data,
			      struct step **out, struct rp_error *err);
int backend__guest_finish(struct backend_job *job, backend_job_cb cb, void *data, struct rp_error *err);

/*
 * The boot of one guest step of `gj` (blocking, on the loop): the payload
 * (backend__guest_payload() over the job's three directories, the step env's
 * LD_LIBRARY_PATH), the environment with the host side's RIPPLE_* variables,
 * the cwd, and vm__guest_prepare(vo, ..., with_qemu, boot). Returns 0 with
 * *boot ready (the caller calls vm__boot_release()); 1 when the package's
 * payload cannot be made: then a step that fails with that one line as its
 * log was started in its place (*out, `done`, `data`, as step_start()); or an
 * error, when nothing was started.
 */
int backend__guest_boot(struct backend__guest_job *gj, const struct vm_options *vo, int with_qemu,
			const struct step_spec *spec, const struct backend_guest *guest, struct vm__boot *boot,
			step_done_cb done, void *data, struct step **out, struct rp_error *err);

int backend__vm_open(const struct rp_target *target, const struct backend_options *opts, struct backend **out,
		     struct rp_error *err);
int backend__xen_open(const struct rp_target *target, const struct backend_options *opts, struct backend **out,
		      struct rp_error *err);

#endif
