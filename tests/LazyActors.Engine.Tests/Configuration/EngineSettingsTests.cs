using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Scheduling;
using Xunit;

namespace LazyActors.Engine.Tests.Configuration;

public sealed class EngineSettingsTests
{
    [Fact]
    public void Reference_config_gives_the_documented_defaults()
    {
        var settings = EngineSettings.Create("/images");
        Assert.Equal("/images", settings.WorkDirectory);
        Assert.Null(settings.AcceptTimeout);
        Assert.Equal(512 << 10, settings.CopySliceBytes);
        Assert.Equal(64 << 10, settings.ChunkInitialBytes);
        Assert.Equal(4 << 20, settings.ChunkMaxBytes);
        Assert.Equal(TimeSpan.Zero, settings.BackgroundPushDelay);
        Assert.True(settings.PushFrontFollowing);
        Assert.Equal(128 << 10, settings.FaultReadAheadMinBytes);
        Assert.Equal(4L << 20, settings.ScatteredFaultDistanceBytes);
        Assert.Equal(512L << 10, settings.ScatteredFaultWindowBytes);
        Assert.Equal("/images/lazy-pages.socket", settings.SocketPath);
    }

    [Fact]
    public void Hocon_overrides_fall_back_to_the_reference()
    {
        var config = ConfigurationFactory.ParseString("lazy-actors.engine { chunk-max = 1MiB, accept-timeout = 30s, chunks-in-flight-per-task = 3 }");
        var settings = EngineSettings.Create(config, "/images", "/work");
        Assert.Equal(1 << 20, settings.ChunkMaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.AcceptTimeout);
        Assert.Equal(3, settings.ChunksInFlightPerTask);
        Assert.Equal(512 << 10, settings.CopySliceBytes);
        Assert.Equal("/work/lazy-pages.socket", settings.SocketPath);
    }

    [Theory]
    [InlineData("chunk-max = 256KiB", 256 << 10)] // the 512 KiB default within a smaller chunk-max: cut, not refused
    [InlineData("chunk-max = 768KiB", 512 << 10)] // the largest power of two within a chunk-max that is none
    [InlineData("chunk-max = 3MiB\nscattered-fault-window = 8MiB", 2 << 20)]
    [InlineData("scattered-fault-window = 1MiB", 1 << 20)]
    [InlineData("scattered-fault-window = off", 0)]
    public void The_scattered_fault_window_never_exceeds_chunk_max(string lines, long effective)
    {
        var config = ConfigurationFactory.ParseString($"lazy-actors.engine {{\n{lines}\n}}");
        var settings = EngineSettings.Create(config, "/images", "/work");
        Assert.Equal(effective, settings.EffectiveScatteredFaultWindowBytes);
    }

    [Fact]
    public void The_mapped_pages_are_faulted_in_and_released_by_default_and_both_can_be_changed()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.False(defaults.MappedPagesPopulate);
        Assert.True(defaults.MappedPagesRelease);
        var changed = EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine { mapped-pages-populate = on, mapped-pages-release = off }"), "/images");
        Assert.True(changed.MappedPagesPopulate);
        Assert.False(changed.MappedPagesRelease);
    }

    [Fact]
    public void Local_bulk_reads_are_mapped_by_default_and_pread_is_chosen_with_its_piece_and_fault_switch()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.Equal(LocalBulkRead.Mapped, defaults.LocalBulkRead);
        Assert.Equal(512 << 10, defaults.LocalBulkReadPieceBytes);
        Assert.True(defaults.LocalBulkReadFaults);
        Assert.Null(defaults.CreatePagesFileStaging());

        var pread = EngineSettings.Create(ConfigurationFactory.ParseString(
            "lazy-actors.engine { local-bulk-read = pread, local-bulk-read-piece = 128KiB, local-bulk-read-faults = off }"), "/images");
        Assert.Equal((LocalBulkRead.Pread, 128 << 10, false), (pread.LocalBulkRead, pread.LocalBulkReadPieceBytes, pread.LocalBulkReadFaults));
        using var staging = pread.CreatePagesFileStaging();
        Assert.NotNull(staging);
        Assert.Equal((128 << 10, false), (staging.PieceBytes, staging.FaultCopies));
    }

    [Theory]
    [InlineData("local-bulk-read = preadv", "local-bulk-read")]
    [InlineData("local-bulk-read-piece = 6000", "local-bulk-read-piece")]
    [InlineData("local-bulk-read-piece = 0", "local-bulk-read-piece")]
    [InlineData("local-bulk-read-piece = 128MiB", "local-bulk-read-piece")]
    [InlineData("local-bulk-read-faults = sometimes", "local-bulk-read-faults")]
    public void A_bad_local_bulk_read_value_is_refused_naming_its_key(string line, string key)
    {
        var ex = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(ConfigurationFactory.ParseString($"lazy-actors.engine {{ {line} }}"), "/images"));
        Assert.Contains(key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Scheduling_and_gc_defaults_and_overrides()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.Equal(-10, defaults.EngineThreadsNice);
        Assert.Equal(new UffdScheduling(true, -10, GatePriority.Ceiling), defaults.UffdScheduling);
        Assert.Null(defaults.NoGcBudgetBytes);
        Assert.Equal(128L << 20, EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.no-gc-budget = 128MiB"), "/images").NoGcBudgetBytes);

        var config = ConfigurationFactory.ParseString(
            "lazy-actors.engine { scheduling { engine-threads-nice = off, reader-realtime = off, reader-nice = -5, gate-priority = inherit }\n no-gc-budget = off }");
        var off = EngineSettings.Create(config, "/images");
        Assert.Null(off.EngineThreadsNice);
        Assert.Equal(new UffdScheduling(false, -5, GatePriority.Inherit), off.UffdScheduling);
        Assert.Null(off.NoGcBudgetBytes);
    }

    [Theory]
    [InlineData("gate", BackgroundPriority.Gate)]
    [InlineData("normal", BackgroundPriority.Normal)]
    [InlineData("idle", BackgroundPriority.Idle)]
    public void Background_priority_reaches_the_uffd_layer(string value, BackgroundPriority expected)
    {
        Assert.Equal(BackgroundPriority.Gate, EngineSettings.Create("/images").UffdScheduling.Background);
        var config = ConfigurationFactory.ParseString($"lazy-actors.engine.scheduling.background-priority = {value}");
        var settings = EngineSettings.Create(config, "/images");
        Assert.Equal(expected, settings.BackgroundPriority);
        Assert.Equal(new UffdScheduling(true, -10, GatePriority.Ceiling, expected), settings.UffdScheduling);
    }

    [Fact]
    public void The_push_lowered_until_the_restorer_has_gone_is_opt_in_and_a_running_task_shares_the_second_copier_only_when_held_up()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.Null(defaults.BackgroundPriorityWhileRestorerRuns);
        Assert.Equal(SecondCopierWhileTaskRuns.WhenHeldUp, defaults.SecondCopierWhileTaskRuns);
        var phases = defaults.CreateBackgroundPhases();
        Assert.False(phases.CanLower);
        Assert.Equal(TimeSpan.FromMilliseconds(250), phases.RestorerExitWait);

        var config = ConfigurationFactory.ParseString(
            "lazy-actors.engine { scheduling.background-priority-while-restorer-runs = idle\n scheduling.restorer-exit-wait = 80ms\n second-copier-while-task-runs = off }");
        var settings = EngineSettings.Create(config, "/images");
        Assert.Equal(SecondCopierWhileTaskRuns.Never, settings.SecondCopierWhileTaskRuns);
        phases = settings.CreateBackgroundPhases();
        Assert.Equal((BackgroundPriority.Idle, BackgroundPriority.Gate, TimeSpan.FromMilliseconds(80)), (phases.WhileRestorerRuns, phases.AfterRestorer, phases.RestorerExitWait));
        Assert.Equal(BackgroundPriority.Idle, phases.Current);
    }

    [Theory]
    [InlineData("on", SecondCopierWhileTaskRuns.Always)]
    [InlineData("off", SecondCopierWhileTaskRuns.Never)]
    [InlineData("following", SecondCopierWhileTaskRuns.WhenFollowing)]
    [InlineData("held-up", SecondCopierWhileTaskRuns.WhenHeldUp)]
    public void The_second_copier_rule_while_a_task_runs_is_one_of_three_words(string word, SecondCopierWhileTaskRuns expected)
    {
        var config = ConfigurationFactory.ParseString($"lazy-actors.engine.second-copier-while-task-runs = {word}");
        Assert.Equal(expected, EngineSettings.Create(config, "/images").SecondCopierWhileTaskRuns);
        var invalid = ConfigurationFactory.ParseString("lazy-actors.engine.second-copier-while-task-runs = sometimes");
        var error = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(invalid, "/images"));
        Assert.Contains("second-copier-while-task-runs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_start_up_and_tear_down_scheduling_of_the_daemon_are_opt_in_and_never_owned_by_default()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.False(defaults.StartUpBelowRestorer);
        Assert.False(defaults.ReadyAfterStartUp);
        Assert.Null(defaults.AfterRestoreNice);
        Assert.False(defaults.OwnsProcess);
        Assert.False(defaults.QuickExit);
        Assert.True(EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.quick-exit = on"), "/images").QuickExit);

        var config = ConfigurationFactory.ParseString(
            "lazy-actors.engine.scheduling { start-up-below-restorer = on\n ready-after-start-up = on\n after-restore-nice = 19 }");
        var settings = EngineSettings.Create(config, "/images");
        Assert.True(settings.StartUpBelowRestorer);
        Assert.True(settings.ReadyAfterStartUp);
        Assert.Equal(19, settings.AfterRestoreNice);
        Assert.False(settings.OwnsProcess);
    }

    [Fact]
    public void The_second_copier_copies_fixed_halves_by_default_and_pieces_from_both_ends_when_asked()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.Null(defaults.SecondCopierPieceBytes);
        Assert.Equal(0, defaults.SecondCopierHelperSpin);
        Assert.Equal(40, EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.second-copier-helper-spin = 40"), "/images").SecondCopierHelperSpin);
        using (var halves = defaults.CreateSecondCopier())
        {
            Assert.Equal(0UL, halves!.PieceBytes);
        }

        var settings = EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.second-copier-piece = 128KiB"), "/images");
        Assert.Equal(128 * 1024, settings.SecondCopierPieceBytes);
        using var pieces = settings.CreateSecondCopier();
        Assert.Equal(128UL * 1024, pieces!.PieceBytes);
    }

    [Fact]
    public void Dispatcher_thread_count_zero_means_one_per_cpu_within_bounds()
    {
        const string path = "lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count";
        Assert.Equal(EngineSettings.DefaultDispatcherThreads, EngineSettings.ReferenceConfig.GetInt(path));
        Assert.InRange(EngineSettings.DefaultDispatcherThreads, 3, 9);
        Assert.Equal(EngineSettings.DefaultDispatcherThreads - 1, EngineSettings.Create("/images").EffectiveBackgroundTasksAtOnce);
        var explicitCount = ConfigurationFactory.ParseString($"{path} = 3").WithFallback(EngineSettings.ReferenceConfig);
        Assert.Equal(3, EngineSettings.ResolveDispatcherThreads(explicitCount).GetInt(path));
        var zero = ConfigurationFactory.ParseString($"{path} = 0").WithFallback(EngineSettings.ReferenceConfig);
        Assert.Equal(EngineSettings.DefaultDispatcherThreads, EngineSettings.ResolveDispatcherThreads(zero).GetInt(path));
    }

    [Theory]
    [InlineData("copy-slice = 1000")]
    [InlineData("chunk-initial = 8MiB")]
    [InlineData("chunks-in-flight-per-task = 0")]
    [InlineData("scheduling.reader-nice = -21")]
    [InlineData("scheduling.engine-threads-nice = 20")]
    [InlineData("scheduling.gate-priority = always")]
    [InlineData("scheduling.background-priority = low")]
    [InlineData("scheduling.background-priority-while-restorer-runs = later")]
    [InlineData("scheduling.restorer-exit-wait = -1s")]
    [InlineData("scheduling.after-restore-nice = 20")]
    [InlineData("scheduling.after-restore-nice = later")]
    [InlineData("scheduling.start-up-below-restorer = idle")]
    public void Invalid_values_fail_fast_with_the_key(string line)
    {
        var config = ConfigurationFactory.ParseString($"lazy-actors.engine {{ {line} }}");
        var error = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(config, "/images"));
        Assert.Contains("lazy-actors.engine", error.Message);
    }

    [Theory]
    [InlineData("background-push = maybe", "lazy-actors.engine.background-push")]
    [InlineData("max-concurrent-reads = many", "lazy-actors.engine.max-concurrent-reads")]
    [InlineData("handshake-timeout = soon", "lazy-actors.engine.handshake-timeout")]
    [InlineData("chunk-max = 4MiB\nmax-background-in-flight = 1MiB", "lazy-actors.engine.max-background-in-flight")]
    [InlineData("eagain-retry-limit = 0", "lazy-actors.engine.eagain-retry-limit")]
    [InlineData("scheduling.gate-priority = always", "lazy-actors.engine.scheduling.gate-priority")]
    [InlineData("second-copier-piece = 1000", "lazy-actors.engine.second-copier-piece")]
    [InlineData("second-copier-piece = 128MiB", "lazy-actors.engine.second-copier-piece")]
    [InlineData("second-copier-piece = some", "lazy-actors.engine.second-copier-piece")]
    [InlineData("second-copier-helper-spin = -1", "lazy-actors.engine.second-copier-helper-spin")]
    [InlineData("second-copier-helper-spin = 5000", "lazy-actors.engine.second-copier-helper-spin")]
    [InlineData("scattered-fault-window = 768KiB", "lazy-actors.engine.scattered-fault-window")]
    public void Invalid_values_name_their_own_key(string lines, string key)
    {
        var config = ConfigurationFactory.ParseString($"lazy-actors.engine {{\n{lines}\n}}");
        var error = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(config, "/images"));
        Assert.StartsWith(key + " ", error.Message);
    }

    [Fact]
    public void A_key_missing_from_the_section_is_an_error_naming_it_not_a_default()
    {
        var keys = new RequiredKeys(ConfigurationFactory.ParseString("present = 3"), "lazy-actors.engine");
        Assert.Equal(3, keys.Int("present"));
        Assert.Equal("lazy-actors.engine.absent is missing", Assert.Throws<ConfigurationException>(() => keys.Int("absent")).Message);
        Assert.Equal("lazy-actors.engine.absent is missing", Assert.Throws<ConfigurationException>(() => keys.Boolean("absent")).Message);
    }

    [Fact]
    public void Settings_changed_with_with_are_validated_by_the_engine()
    {
        var settings = EngineSettings.Create("/images") with { CopySliceBytes = 1000 };
        var error = Assert.Throws<ConfigurationException>(() => LazyPagesEngine.Listen(settings));
        Assert.Contains("lazy-actors.engine.copy-slice", error.Message);
    }

    [Fact]
    public void The_actor_system_runs_the_dispatcher_threads_the_settings_say()
    {
        const string path = "lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count";
        var fromHocon = EngineSettings.Create(ConfigurationFactory.ParseString($"{path} = 4"), "/images");
        Assert.Equal(4, fromHocon.DispatcherThreads);
        Assert.Equal(3, fromHocon.EffectiveBackgroundTasksAtOnce);

        // A restore started with other Akka overrides still gets the settings' count, not the reference's.
        var system = fromHocon.ActorSystemConfig(ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        Assert.Equal(4, system.GetInt(path));
        Assert.Equal("WARNING", system.GetString("akka.loglevel"));
        Assert.Equal(1, system.GetInt("lazy-actors.engine.dispatcher.throughput"));
        Assert.Equal(6, (fromHocon with { DispatcherThreads = 6 }).ActorSystemConfig(null).GetInt(path));
    }

    [Fact]
    public void The_engine_dispatcher_is_defined()
    {
        Assert.True(EngineSettings.ReferenceConfig.HasPath(EngineSettings.DispatcherId));
    }

    [Theory]
    [InlineData("same", true, true)]
    [InlineData("same", false, false)]
    [InlineData("off", true, false)]
    [InlineData("on", false, true)]
    public void A_remote_restore_takes_remote_dispatcher_idle_spin_unless_it_says_same(string remote, bool engine, bool expected)
    {
        var config = ConfigurationFactory.ParseString(
            $"lazy-actors.engine {{ scheduling.dispatcher-idle-spin = {(engine ? "on" : "off")}, remote.dispatcher-idle-spin = {remote} }}");
        var settings = EngineSettings.Create(config, "/images");
        Assert.Equal(engine, settings.DispatcherIdleSpin); // a local restore keeps the engine's own
        Assert.Equal(expected, settings.ForRemoteSource().DispatcherIdleSpin);
    }

    [Fact]
    public void The_receive_arena_is_on_unless_turned_off()
    {
        Assert.True(EngineSettings.Create("/images").Remote.ReceiveArena);
        Assert.False(EngineSettings.Create(ConfigurationFactory.ParseString("lazy-actors.engine.remote.receive-arena = off"), "/images").Remote.ReceiveArena);
    }
}
