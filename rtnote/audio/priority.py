"""Real-time scheduling for the threads that must keep up with the audio."""

import os


def make_this_thread_realtime(priority=1):
    """Run the calling thread under SCHED_FIFO at ``priority`` (1 = the lowest real-time
    priority, below an audio server's callbacks), where the system allows it.

    Such a thread is never preempted by ordinary processes, only by the audio callbacks and
    the kernel. Returns True if it took effect; False without permission (no rtprio limit,
    e.g. outside the 'audio' group) or off Linux, where the thread keeps its priority.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
    except (AttributeError, OSError):
        return False
    return True
