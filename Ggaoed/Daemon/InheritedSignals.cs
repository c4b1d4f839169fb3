using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>
/// The daemon's control signals (SIGHUP reload; SIGTERM, SIGINT, SIGQUIT stop) work however it was
/// started. A signal ignored at exec stays ignored: nohup leaves SIGHUP so, a non-interactive shell's
/// <c>ggaoed -f &amp;</c> SIGINT and SIGQUIT. The runtime keeps such a signal ignored when it sets up
/// its own signal handling (the shell convention for interactive programs), so no
/// PosixSignalRegistration would ever run: <c>kill -HUP</c> would not reload nor <c>kill -INT</c> stop,
/// where ggaoed 1.1 catches them whatever it inherited.
/// </summary>
internal static class InheritedSignals
{
    private static readonly int[] Control = [Libc.SIGHUP, Libc.SIGINT, Libc.SIGQUIT, Libc.SIGTERM];

    /// <summary>
    /// Puts each ignored control signal back to its default action. Call first thing, before anything
    /// (Console included) makes the runtime set up its signal handling; a signal that is not ignored
    /// is left alone. Until the daemon registers its handlers the default action applies, as it does
    /// to every signal that early.
    /// </summary>
    public static unsafe void Unignore()
    {
        foreach (int signo in Control)
        {
            sigaction_t current;
            if (Libc.sigaction(signo, null, &current) != 0 || current.sa_handler != Libc.SIG_IGN)
                continue;
            sigaction_t dfl = default;
            dfl.sa_handler = Libc.SIG_DFL;
            Libc.sigaction(signo, &dfl, null);
        }
    }
}
