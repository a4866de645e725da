/*
 * vm.h — run one command in a throwaway virtual machine: build an initramfs,
 * boot it with QEMU, read the result from the serial console, destroy it all.
 *
 * Contract:
 * - vm_run() is blocking. It writes an initramfs (an uncompressed newc cpio,
 *   made with libarchive) into the work directory holding
 *     /init            ripple's init (runner/vm_init.c, the static
 *                      `ripple-vm-init` executable),
 *     /bin/busybox     Debian's busybox-static; the init runs
 *                      `busybox --install -s` at boot, so /bin/sh and the usual
 *                      tools exist,
 *     /ripple/job      the job, see below,
 *     /dev/console     a character device node (5, 1), so the init starts
 *                      with its standard streams on the console,
 *     the payload files at their guest paths (parent directories created,
 *     the host file's permission bits kept, symbolic links followed),
 *   then boots `qemu-system-x86_64 -M microvm` (or `-M pc` for the rest of
 *   the process when QEMU rejects microvm) and `-cpu max` (under TCG the
 *   default qemu64 model killed a libFuzzer target at its first input) with
 *   no network device (unless o->network: see VM_MODULES_DIR), no disk,
 *   no output port (unless o->output: see VM_OUTPUT_NAME),
 *   the serial console on a pipe, `-no-reboot` and a kernel panic rebooting at
 *   once (panic=-1), so every way the guest ends makes QEMU exit.
 * - The guest's init mounts devtmpfs on /dev, proc, sysfs and a tmpfs on /tmp,
 *   prints the boot line, sets loopback up (and with a network loads the
 *   modules and sets eth0 up), runs `/bin/sh -c COMMAND` in `cwd` with exactly the
 *   payload's environment (plus PATH=/usr/sbin:/usr/bin:/sbin:/bin when it
 *   has no PATH), stdin on /dev/null and stdout and stderr on the console,
 *   waits for it, prints the status line and powers the VM off.
 * - Result protocol on the console, one line each (the console may add '\r'):
 *     RIPPLE-VM1 type=boot uptime_ms=N crc=XXXXXXXX
 *     RIPPLE-VM1 type=status exit=N signal=S run_ms=N maxrss_kb=N crc=XXXXXXXX
 *   Fields are `name=value` separated by one space; crc is the CRC-32 (zlib's
 *   crc32()) of the line's bytes from "RIPPLE-VM1" up to, not including,
 *   " crc=", in 8 lower-case hex digits. A line may start anywhere after other
 *   output on the same console line. A line whose crc does not match is
 *   ignored, so a test printing text that looks like a result cannot forge
 *   one. exit is the command's exit status, or 128 + the signal that killed
 *   it (then signal=S, else 0). The first status line wins.
 * - Outcome: a valid status line → VM_PASS (exit 0) or VM_FAIL (exit_code set),
 *   even when QEMU had to be killed afterwards. Otherwise: the wall-clock
 *   timeout (from QEMU's start) → VM_TIMEOUT, QEMU killed with SIGKILL and
 *   reaped; QEMU exiting without a result (a kernel panic, the init dying,
 *   QEMU failing to start) → VM_ERROR. `why` is one line for FAIL, TIMEOUT and
 *   ERROR; for ERROR it holds "Kernel panic" when the console does, and the
 *   console's last lines.
 * - Nothing remains after vm_run() returns, whatever happened: the initramfs
 *   is removed, QEMU has been reaped. r->console (the whole serial console and
 *   QEMU's own messages, '\r' removed, NUL-terminated, at most 16 MiB) belongs
 *   to the caller, who frees it with vm_result_release().
 * - Timing: boot_ms runs from QEMU's start to the boot line being read;
 *   total_ms from vm_run()'s entry to its return (initramfs and clean-up
 *   included). Both are 0 when they did not happen.
 * - Finding things: the kernel is o->kernel, else $RIPPLE_VM_KERNEL (ripple's
 *   guest kernel, scripts/guest-kernel), else the newest /boot/vmlinuz-*
 *   (version order). A bzImage is booted as its uncompressed vmlinux (PVH
 *   entry; saves the guest's self-decompression, ~0.4 s under TCG), extracted
 *   once with libarchive into a cache that outlives the process:
 *   $RIPPLE_VM_CACHE, else $XDG_CACHE_HOME/ripple/vm, else ~/.cache/ripple/vm,
 *   file vmlinux-NAME-SIZE-MTIME (written to a temporary name, renamed); when
 *   that fails the bzImage itself is booted. QEMU is o->qemu or
 *   qemu-system-x86_64 in $PATH; busybox
 *   is $RIPPLE_VM_BUSYBOX or /bin/busybox; the init is $RIPPLE_VM_INIT, else
 *   `ripple-vm-init` beside the running executable, else the path the build
 *   recorded (RIPPLE_VM_INIT_BUILD_PATH, the build tree's runner/ripple-vm-init).
 * - Acceleration: VM_ACCEL_AUTO asks vm_probe(). The kernel command line
 *   carries tsc_early_khz (the host's TSC rate, as TCG's guest TSC is the
 *   host's) because microvm has no PIT/HPET the kernel can calibrate against
 *   under TCG.
 * - Thread-safe: any number of vm_run() calls may run at once.
 *
 * Calling sequence:
 *	struct vm_options o = { .timeout_ms = 60000 };
 *	struct vm_file f[] = { { "/host/test.sh", "/t/test.sh" } };
 *	struct vm_payload p = { .files = f, .n_files = 1, .command = "sh /t/test.sh" };
 *	struct vm_result r;
 *	if (vm_run(&o, &p, &r, &err) < 0) ...err.msg: nothing was booted...
 *	... r.status, r.exit_code, r.why, r.console ...
 *	vm_result_release(&r);
 */
#ifndef RIPPLE_RUNNER_VM_H
#define RIPPLE_RUNNER_VM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The result protocol's tag and version. */
#define VM_LINE_TAG "RIPPLE-VM1"
/* The job file in the initramfs: "RIPPLE-JOB1\0" CWD "\0" COMMAND "\0" then
 * one "NAME=VALUE\0" per environment variable up to the end of the file. */
#define VM_JOB_PATH "/ripple/job"
#define VM_JOB_MAGIC "RIPPLE-JOB1"
/*
 * A guest with a network holds the kernel modules its virtio network device
 * needs under /ripple/modules, and their load order in this file (one path a
 * line, dependencies first); its eth0 gets this address on QEMU's user
 * network, restricted (restrict=on): no route out of the guest, to the host
 * or anywhere else.
 */
#define VM_MODULES_DIR "/ripple/modules"
#define VM_MODULES_LIST "/ripple/modules/order"
/* In the initramfs of a guest with a network: eth0 is set up. */
#define VM_NETWORK_MARK "/ripple/network"
/*
 * A guest with an output port (vm_options.output): a virtio serial port named
 * VM_OUTPUT_NAME whose bytes land in a host file (vm__boot.output), linked
 * at VM_OUTPUT_DEVICE by the init. Unlike the console it is no tty: what is
 * written arrives as it is (a tar of what the guest brings back).
 */
#define VM_OUTPUT_MARK "/ripple/output"
/* The most an output port carries by default: QEMU runs under this RLIMIT_FSIZE (SIGXFSZ past it). */
#define VM_OUTPUT_MAX (512ull << 20)
#define VM_OUTPUT_NAME "ripple.out"
#define VM_OUTPUT_DEVICE "/dev/ripple-out"
#define VM_GUEST_ADDR "10.0.2.15"
#define VM_GUEST_MASK "255.255.255.0"

enum vm_accel { VM_ACCEL_AUTO, VM_ACCEL_KVM, VM_ACCEL_TCG };

struct vm_options {
	const char *kernel;   /* NULL: the newest /boot/vmlinuz-* */
	const char *qemu;     /* NULL: qemu-system-x86_64 in $PATH */
	unsigned memory_mb;   /* 0: 256 */
	unsigned cpus;	      /* 0: 1 */
	uint64_t timeout_ms;  /* wall clock from QEMU's start; 0: 60 s */
	enum vm_accel accel;  /* AUTO: what vm_probe() answers */
	int network;	      /* a virtio network device on QEMU's restricted user network (VM_MODULES_DIR) */
	int output;	      /* an output port (VM_OUTPUT_DEVICE in the guest; see VM_OUTPUT_NAME) */
	uint64_t output_max;  /* bytes the output port may carry; 0: VM_OUTPUT_MAX */
	const char *work_dir; /* temporary files; NULL: $TMPDIR or /tmp */
};

struct vm_file {
	const char *host;  /* a regular file (symbolic links followed) */
	const char *guest; /* absolute, no "." or ".." component, not /init nor under /ripple */
};

struct vm_payload {
	const struct vm_file *files;
	size_t n_files;
	const char *command;	/* run by /bin/sh -c in the guest */
	const char *const *env; /* NAME=VALUE, NULL-terminated; NULL: empty (PATH is added) */
	const char *cwd;	/* in the guest; NULL: / */
};

enum vm_status { VM_PASS, VM_FAIL, VM_TIMEOUT, VM_ERROR };

struct vm_result {
	enum vm_status status;
	int exit_code;	   /* from the status line; -1 without one */
	char accel[8];	   /* "kvm" or "tcg" */
	uint64_t boot_ms;  /* QEMU's start to the boot line */
	uint64_t total_ms; /* vm_run() entry to return */
	char *console;	   /* the caller frees it (vm_result_release) */
	size_t console_len;
	char why[512]; /* one line for FAIL, TIMEOUT, ERROR; "" for PASS */
};

/*
 * Boots the payload and fills *r. Returns 0 when a VM was started (whatever
 * r->status says), or RP_EINVAL (no command, a bad guest path), RP_ENOTFOUND
 * (kernel, QEMU, busybox or the init missing), RP_EIO (a payload file
 * unreadable, the initramfs not writable, QEMU not startable), RP_ENOMEM; on
 * an error return *r holds nothing to free and nothing was left behind.
 */
int vm_run(const struct vm_options *o, const struct vm_payload *p, struct vm_result *r, struct rp_error *err);

/* Frees r->console; *r may be reused. */
void vm_result_release(struct vm_result *r);

/*
 * The acceleration this host should use: "kvm" when /dev/kvm opens read-write
 * and a VM running `true` under KVM reports its result within 10 s, else
 * "tcg". Asked once per process (the first caller's options are used for the
 * probe, o->accel is ignored); later calls return the same answer at once.
 * The answer of a probe VM is also kept in the VM cache for this boot of the
 * host, kernel and QEMU (accel-BOOTID-CRC), so a process started later on the
 * same host answers without a probe VM (*probe_ms 0).
 * *probe_ms (may be NULL) is the time the probe took (0 without a probe VM).
 * Returns 0; never fails (a failing probe means "tcg", the reason in err when
 * given).
 */
int vm_probe(const struct vm_options *o, char accel[8], uint64_t *probe_ms, struct rp_error *err);

/* "pass", "fail", "timeout", "error". */
const char *vm_status_name(enum vm_status status);

/*
 * The framed line for `body` ("RIPPLE-VM1 type=... ..."): body + " crc=XXXXXXXX"
 * in `out`. Returns the length written, or -1 when it does not fit. For tests.
 */
int vm_frame_line(const char *body, char *out, size_t size);

#endif
