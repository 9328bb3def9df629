/* Baseline (d) for pipe_pingpong: a raw pipe ping-pong between 2 processes
 * (fork; two pipes; 8-byte messages with write/read). us per round trip.
 * Also c_fork_wait: fork + child _exit(0) + waitpid, us per process (the floor
 * under process_start; informational). */
#include "bench_common.h"
#include <unistd.h>
#include <sys/wait.h>

static void xread(int fd, void *b, size_t n)
{
    if (read(fd, b, n) != (ssize_t)n) _exit(2);
}
static void xwrite(int fd, const void *b, size_t n)
{
    if (write(fd, b, n) != (ssize_t)n) _exit(2);
}

int main(int argc, char **argv)
{
    long n = bench_iters(argc, argv, 20000);
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        long v;
        close(to_child[1]); close(to_parent[0]);
        for (long i = 0; i < n + 100; i++) {
            xread(to_child[0], &v, sizeof v);
            xwrite(to_parent[1], &v, sizeof v);
        }
        _exit(0);
    }
    close(to_child[0]); close(to_parent[1]);
    long v = 0;
    for (long i = 0; i < 100; i++) {
        xwrite(to_child[1], &i, sizeof i); xread(to_parent[0], &v, sizeof v);
    }
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        xwrite(to_child[1], &i, sizeof i); xread(to_parent[0], &v, sizeof v);
    }
    double dt = bench_now() - t0;
    waitpid(pid, NULL, 0);
    bench_emit("c_pipe_pingpong", dt / n * 1e6, "us/rt");

    long nf = 1000;
    t0 = bench_now();
    for (long i = 0; i < nf; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        waitpid(p, NULL, 0);
    }
    bench_emit("c_fork_wait", (bench_now() - t0) / nf * 1e6, "us/proc");
    return 0;
}
