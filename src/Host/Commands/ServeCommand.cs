using System.CommandLine;
using System.Runtime.CompilerServices;
using LazyActors.Host.Service;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>serve [--config FILE] [--settings FILE] [--control-socket PATH] [--http ADDRESS:PORT]</c>: the hosted daemon.
/// Only this verb's action touches ASP.NET Core and the hosting stack (<see cref="ServiceProgram"/>), so the one-shot
/// verbs start as fast as before.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "HOCON of the engine and Akka (default: config/lazy-actors.hocon next to the program)." };
        var settings = new Option<string?>("--settings") { Description = "JSON settings of the service (default: config/appsettings.json next to the program)." };
        var socket = new Option<string?>("--control-socket") { Description = $"The control API's Unix socket (default: {ServiceOptions.DefaultControlSocket})." };
        var http = new Option<string?>("--http") { Description = "Loopback ADDRESS:PORT for the status page, /metrics and /healthz (default: none)." };
        var command = new Command("serve", "Run the hosted daemon: restore jobs on demand through a gRPC control API (see `jobs`).")
        {
            config, settings, socket, http,
        };
        command.SetAction((parse, token) => RunAsync(new ServeArguments(parse.GetValue(config), parse.GetValue(settings), parse.GetValue(socket), parse.GetValue(http)), token));
        return command;
    }

    // Not inlined, so compiling the action does not load the hosting assemblies.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task<int> RunAsync(ServeArguments arguments, CancellationToken token) => ServiceProgram.RunAsync(arguments, token);
}
