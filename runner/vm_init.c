/*
 * vm_init.c — ripple's init for throwaway VMs (the static `ripple-vm-init`,
 * /init of the initramfs vm_run() builds; see runner/vm.h for the contract and
 * the result protocol).
 *
 * PID 1: mounts /dev, /proc, /sys, /tmp; prints the boot line; installs the
 * busybox links; runs the job from /ripple/job; prints the status line; powers
 * off. Plain libc and zlib only, linked statically: the initramfs has no
 * shared libraries. Whatever goes wrong, it ends in a power-off (or, if even
 * that fails, by returning from main, which panics the kernel and, with
 * panic=-1 and QEMU's -no-reboot, ends the VM too).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "runner/vm.h"
#include "core/banned.h"

#define JOB_MAX (4u << 20)
#define ENV_MAX 4096

static uint64_t uptime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Prints one framed line on the console (fd 1) and waits until it left the UART. */
static void frame(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void frame(const char *fmt, ...)
{
	char body[512], line[600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(body))
		return;
	uLong crc = crc32(0L, (const Bytef *)body, (uInt)n);
	/* The leading newline ends whatever partial line the job left on the console. */
	n = snprintf(line, sizeof(line), "\n%s crc=%08lx\n", body, (unsigned long)crc);
	write_all(1, line, (size_t)n);
	tcdrain(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void power_off(void)
{
	sync();
	tcdrain(1);
	reboot(RB_POWER_OFF);
	/* Only reached when the power-off failed: returning from PID 1 panics the kernel. */
	say("ripple-vm-init: power off failed: %s\n", strerror(errno));
	exit(1);
}

static void console_stdio(void)
{
	/* The kernel opened /dev/console as 0, 1, 2 when the initramfs has it. */
	if (fcntl(1, F_GETFD) < 0) {
		int fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
}

static void mount_one(const char *source, const char *target, const char *type, unsigned long flags)
{
	mkdir(target, 0755);
	if (mount(source, target, type, flags, NULL) < 0 && errno != EBUSY)
		say("ripple-vm-init: cannot mount %s on %s: %s\n", type, target, strerror(errno));
}

/* Runs argv to its end; its exit status or -1. */
static int run_wait(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Sets `ifname` up, with IPv4 `addr`/`mask` when given; 0 or -1 (said on the console). */
static int link_up(const char *ifname, const char *addr, const char *mask)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	int rc = -1;
	if (fd < 0) {
		say("ripple-vm-init: socket: %s\n", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	for (int i = 0; addr && i < 2; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, i == 0 ? addr : mask, &sin->sin_addr);
		if (ioctl(fd, i == 0 ? SIOCSIFADDR : SIOCSIFNETMASK, &ifr) < 0) {
			say("ripple-vm-init: %s: cannot set its %s: %s\n", ifname, i == 0 ? "address" : "netmask",
			    strerror(errno));
			goto out;
		}
	}
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
		say("ripple-vm-init: %s: cannot set it up: %s\n", ifname, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * A guest with virtio devices (vm.h, VM_MODULES_LIST): loads the kernel
 * modules the list names, in its order (a parameter the kernel command line
 * gives a module as MODULE.NAME=VALUE is passed to it, as modprobe would).
 */
static void modules_load(void)
{
	FILE *list = fopen(VM_MODULES_LIST, "r");
	if (!list)
		return;
	char cmdline[4096] = "", line[512];
	int cfd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (cfd >= 0) {
		ssize_t n = read(cfd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = '\0';
		close(cfd);
	}
	while (fgets(line, sizeof(line), list)) {
		line[strcspn(line, "\n")] = '\0';
		char *name = strrchr(line, '/');
		name = name ? name + 1 : line;
		/* "virtio_mmio.ko" takes the command line's "virtio_mmio.device=..." as "device=...". */
		char module[64], params[2048] = "";
		size_t len = strcspn(name, ".");
		snprintf(module, sizeof(module), "%.*s.", (int)len, name);
		for (char *at = cmdline; (at = strstr(at, module));) {
			if (at != cmdline && at[-1] != ' ') {
				at++;
				continue;
			}
			at += strlen(module);
			size_t plen = strcspn(at, " \n");
			size_t used = strlen(params);
			snprintf(params + used, sizeof(params) - used, "%s%.*s", used ? " " : "", (int)plen, at);
			at += plen;
		}
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, params, 0) < 0)
			say("ripple-vm-init: cannot load %s: %s\n", line, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	fclose(list);
}

/*
 * A guest with a network (VM_NETWORK_MARK): eth0 at VM_GUEST_ADDR. No route
 * is added: QEMU's user network is restricted, and there is nowhere to go.
 */
static void network_up(void)
{
	if (access(VM_NETWORK_MARK, F_OK) != 0)
		return;
	/* The device appears once its driver probed it: wait for it a little. */
	for (int i = 0; i < 200 && access("/sys/class/net/eth0", F_OK) != 0; i++)
		usleep(10000);
	link_up("eth0", VM_GUEST_ADDR, VM_GUEST_MASK);
}

/*
 * A guest with an output port (VM_OUTPUT_MARK): the virtio serial port named
 * VM_OUTPUT_NAME, found by its name in sysfs, linked at VM_OUTPUT_DEVICE.
 */
static void output_port(void)
{
	if (access(VM_OUTPUT_MARK, F_OK) != 0)
		return;
	for (int i = 0; i < 200; i++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char path[300], name[64] = "";
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, name, sizeof(name) - 1) : -1;
			if (fd >= 0)
				close(fd);
			name[n > 0 ? n : 0] = '\0';
			name[strcspn(name, "\n")] = '\0';
			snprintf(path, sizeof(path), "/dev/%s", e->d_name);
			if (strcmp(name, VM_OUTPUT_NAME) == 0 && access(path, F_OK) == 0) {
				closedir(d);
				if (symlink(path, VM_OUTPUT_DEVICE) < 0)
					say("ripple-vm-init: cannot link %s: %s\n", VM_OUTPUT_DEVICE, strerror(errno));
				return;
			}
		}
		if (d)
			closedir(d);
		usleep(10000);
	}
	say("ripple-vm-init: no output port %s\n", VM_OUTPUT_NAME);
}

struct job {
	char *buf;
	const char *cwd, *command;
	char *env[ENV_MAX + 2];
};

static int read_job(struct job *job)
{
	int fd = open(VM_JOB_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		say("ripple-vm-init: cannot open %s: %s\n", VM_JOB_PATH, strerror(errno));
		return -1;
	}
	size_t len = 0;
	job->buf = malloc(JOB_MAX + 1);
	if (!job->buf) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, job->buf + len, JOB_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == JOB_MAX)
			break;
	}
	close(fd);
	job->buf[len] = '\0';
	/* magic, cwd, command, then env strings; each NUL-terminated */
	const char *fields[3];
	size_t at = 0;
	for (int i = 0; i < 3; i++) {
		if (at >= len) {
			say("ripple-vm-init: %s is truncated\n", VM_JOB_PATH);
			return -1;
		}
		fields[i] = job->buf + at;
		at += strlen(fields[i]) + 1;
	}
	if (strcmp(fields[0], VM_JOB_MAGIC) != 0) {
		say("ripple-vm-init: %s is not a ripple job\n", VM_JOB_PATH);
		return -1;
	}
	job->cwd = *fields[1] ? fields[1] : "/";
	job->command = fields[2];
	size_t n_env = 0;
	int has_path = 0;
	while (at < len && n_env < ENV_MAX) {
		char *e = job->buf + at;
		at += strlen(e) + 1;
		if (strncmp(e, "PATH=", 5) == 0)
			has_path = 1;
		job->env[n_env++] = e;
	}
	if (!has_path)
		job->env[n_env++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	job->env[n_env] = NULL;
	return 0;
}

int main(void)
{
	console_stdio();
	frame(VM_LINE_TAG " type=boot uptime_ms=%llu", (unsigned long long)uptime_ms());

	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
	mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV);
	chmod("/tmp", 01777);

	char *install[] = {"/bin/busybox", "--install", "-s", NULL};
	if (run_wait(install) != 0)
		say("ripple-vm-init: busybox --install -s failed\n");
	/* Loopback in every guest: tests talk to themselves over 127.0.0.1. */
	link_up("lo", NULL, NULL);
	modules_load();
	network_up();
	output_port();

	struct job job = {0};
	if (read_job(&job) < 0) {
		frame(VM_LINE_TAG " type=status exit=125 signal=0 run_ms=0 maxrss_kb=0");
		power_off();
	}

	uint64_t start = mono_ms();
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0) {
			dup2(null, 0);
			if (null > 0)
				close(null);
		}
		int con = open("/dev/console", O_WRONLY | O_NOCTTY);
		if (con >= 0) {
			dup2(con, 1);
			dup2(con, 2);
			if (con > 2)
				close(con);
		}
		if (chdir(job.cwd) < 0) {
			say("ripple-vm-init: cannot enter %s: %s\n", job.cwd, strerror(errno));
			_exit(125);
		}
		char *argv[] = {"sh", "-c", (char *)job.command, NULL};
		execve("/bin/sh", argv, job.env);
		say("ripple-vm-init: cannot run /bin/sh: %s\n", strerror(errno));
		_exit(127);
	}
	int code = 125, sig = 0;
	struct rusage ru = {0};
	if (pid < 0) {
		say("ripple-vm-init: fork: %s\n", strerror(errno));
	} else {
		/* As PID 1 every orphan is ours to reap; the job's shell ends the wait. */
		for (;;) {
			int status;
			struct rusage r1;
			pid_t got = wait4(-1, &status, 0, &r1);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (got != pid)
				continue;
			ru = r1;
			if (WIFEXITED(status)) {
				code = WEXITSTATUS(status);
			} else if (WIFSIGNALED(status)) {
				sig = WTERMSIG(status);
				code = 128 + sig;
			}
			break;
		}
	}
	frame(VM_LINE_TAG " type=status exit=%d signal=%d run_ms=%llu maxrss_kb=%ld", code, sig,
	      (unsigned long long)(mono_ms() - start), ru.ru_maxrss);
	power_off();
	return 1;
}
