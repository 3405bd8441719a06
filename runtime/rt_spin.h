/* rt_spin.h: the pause instruction of the runtime's polling loops (the
 * thread pool's workers, unit threads and ready flags): it tells the core
 * a thread is spinning, so a sibling hyper-thread gets the cycles. */
#ifndef HETC_RT_SPIN_H
#define HETC_RT_SPIN_H

static inline void rt_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

#endif
