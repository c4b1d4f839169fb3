using System;
using System.IO;
using System.Text;
using Ggaoed.Protocol;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // Persistent AoE state (config string, Mac Mask List, reserve list, an initiator's write-cache
    // choice), one "<device>.state" file per device in state-directory. Saves run on the background
    // worker: a save is a write, an fsync, a rename and an fsync of the directory, which on a busy or
    // failing disk takes far longer than the reactor may wait. The state is serialized on the reactor
    // thread when the save is posted, so the worker never reads live state.

    /// <summary>Where ggaoed 1.1 kept a device's state, next to ours in the same directory.</summary>
    private const string LegacyConfigSuffix = ".config";
    private const string LegacyMaskSuffix = ".mac_mask";
    private const string LegacyReserveSuffix = ".reserve";

    private LogLimiter _stateSaveLimiter;

    private void LoadState(ExportedDevice device)
    {
        string file = device.StateFile;
        bool saveNow = false;
        if (File.Exists(file))
        {
            try
            {
                string text = File.ReadAllText(file);
                if (!device.Target.TryLoadState(text, out string? error))
                {
                    SetAsideCorruptState(device, file, error!);
                    saveNow = true; // the closed mask must survive a restart
                }
            }
            catch (IOException e)
            {
                Log.Warning($"{device.Name}: cannot read state file {file}: {e.Message}");
            }
        }
        else
        {
            saveNow = ImportLegacyState(device); // kept in our format from now on
        }
        // A version behind the target's makes the end of this turn save it, like any change.
        device.SavedStateVersion = device.Target.StateVersion - (saveNow ? 1 : 0);
    }

    /// <summary>
    /// A state file we cannot read may have held a Mac Mask List: starting with an empty one would open
    /// the device to every MAC. So the mask is closed (it holds only the broadcast address, which is
    /// never a source) until an admin looks and runs clear-macmask; the file is kept beside as
    /// ".corrupt" rather than overwritten by the next save.
    /// </summary>
    private static void SetAsideCorruptState(ExportedDevice device, string file, string error)
    {
        string aside = file + ".corrupt";
        try
        {
            File.Move(file, aside, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            aside = file + " (could not be renamed: " + e.Message + ")";
        }
        CloseMaskList(device.Target);
        Log.Error($"{device.Name}: ignoring corrupt state file {file}: {error}; kept as {aside}. The device admits no " +
                  $"initiator until you check its MAC mask and run 'ggaoectl clear-macmask {device.Name}'");
    }

    private static void CloseMaskList(AoeTarget target)
    {
        target.ImportState(target.ConfigString, [MacAddress.Broadcast], target.ReserveList.AsSpan());
    }

    /// <summary>
    /// First start after ggaoed 1.1: imports its "&lt;device&gt;.config", ".mac_mask" and ".reserve"
    /// files (magic and length checked, see <see cref="LegacyStateFiles"/>) and leaves them untouched.
    /// A corrupt config or reserve file starts that list empty; a corrupt mask file closes the device
    /// (as <see cref="SetAsideCorruptState"/>). Returns true when anything was imported.
    /// </summary>
    private bool ImportLegacyState(ExportedDevice device)
    {
        string dir = StateDirectory;
        string name = device.Name;
        byte[]? configFile = ReadLegacy(device, Path.Combine(dir, name + LegacyConfigSuffix));
        byte[]? maskFile = ReadLegacy(device, Path.Combine(dir, name + LegacyMaskSuffix));
        byte[]? reserveFile = ReadLegacy(device, Path.Combine(dir, name + LegacyReserveSuffix));
        if (configFile == null && maskFile == null && reserveFile == null)
            return false;

        byte[] config = [];
        if (configFile != null && !LegacyStateFiles.TryParseConfig(configFile, out config, out string? configError))
        {
            Log.Error($"{name}: ignoring the ggaoed 1.1 config string in {dir}/{name}{LegacyConfigSuffix}: {configError}; the config string starts empty");
            config = [];
        }
        MacAddress[] mask = [];
        bool maskClosed = false;
        if (maskFile != null)
        {
            if (!LegacyStateFiles.TryParseMacList(maskFile, AoeTarget.MaskListCapacity, out mask, out int dropped, out string? maskError))
            {
                Log.Error($"{name}: the ggaoed 1.1 MAC mask in {dir}/{name}{LegacyMaskSuffix} is corrupt ({maskError}): the device admits " +
                          $"no initiator until you check it and run 'ggaoectl clear-macmask {name}'");
                mask = [MacAddress.Broadcast];
                maskClosed = true;
            }
            else if (dropped > 0)
            {
                Log.Warning($"{name}: the ggaoed 1.1 MAC mask in {dir}/{name}{LegacyMaskSuffix} lists {dropped} MAC(s) beyond our " +
                            $"{AoeTarget.MaskListCapacity}; only the first {AoeTarget.MaskListCapacity} were imported");
            }
        }
        MacAddress[] reserve = [];
        if (reserveFile != null)
        {
            if (!LegacyStateFiles.TryParseMacList(reserveFile, AoeTarget.ReserveListCapacity, out reserve, out int dropped, out string? reserveError))
            {
                Log.Error($"{name}: ignoring the ggaoed 1.1 reserve list in {dir}/{name}{LegacyReserveSuffix}: {reserveError}; the device starts unreserved");
                reserve = [];
            }
            else if (dropped > 0)
            {
                Log.Warning($"{name}: the ggaoed 1.1 reserve list in {dir}/{name}{LegacyReserveSuffix} lists {dropped} MAC(s) beyond our " +
                            $"{AoeTarget.ReserveListCapacity}; only the first {AoeTarget.ReserveListCapacity} were imported");
            }
        }
        device.Target.ImportState(config, mask, reserve);
        Log.Notice($"{name}: imported ggaoed 1.1 state from {dir} (config string of {config.Length} bytes, " +
                   (maskClosed ? "MAC mask closed" : $"{mask.Length} MAC mask entries") + $", {reserve.Length} reserve entries); " +
                   $"it is kept in {device.StateFile} from now on and the old files are left as they are");
        return true;
    }

    private static byte[]? ReadLegacy(ExportedDevice device, string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Error($"{device.Name}: cannot read the ggaoed 1.1 state file {path}: {e.Message}");
            return null;
        }
    }

    /// <summary>Posts a save of the device's current state to the worker.</summary>
    private void SaveState(ExportedDevice device)
    {
        device.SavedStateVersion = device.Target.StateVersion;
        device.StateSavedAtNanos = TimerFd.NowNanos();
        _worker!.Post(new StateSave(this, device, Encoding.UTF8.GetBytes(device.Target.SerializeState())));
    }

    /// <summary>
    /// A failed save (ENOSPC, EROFS, the directory gone) loses nothing the initiator was told: the
    /// frame that changed the state was answered, and the state stays in memory. It is logged
    /// (rate-limited), counted per device, and tried again with the next change.
    /// </summary>
    private void OnStateSaved(ExportedDevice device, string file, Exception? failure)
    {
        if (failure == null)
        {
            if (device.StateSaveFailing)
                Log.Notice($"{device.Name}: AoE state saved to {file} again");
            device.StateSaveFailing = false;
            return;
        }
        device.Counters.StateSaveFailures++;
        device.StateSaveFailing = true;
        if (_stateSaveLimiter.ShouldLog(TimerFd.NowNanos(), out long suppressed))
            Log.Error($"{device.Name}: cannot save AoE state to {file}: {failure.Message}; it is kept in memory and " +
                      $"saved again with the next change{(suppressed > 0 ? $" ({suppressed} similar errors not logged)" : "")}");
    }

    private sealed class StateSave(TargetDaemon daemon, ExportedDevice device, byte[] contents) : BackgroundJob
    {
        private readonly string _file = device.StateFile;

        protected internal override void Run() => AtomicFile.Write(_file, contents);

        protected internal override void Complete() => daemon.OnStateSaved(device, _file, Failure);
    }
}
