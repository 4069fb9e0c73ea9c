namespace LazyActors.Host.Service;

/// <summary>The <c>serve</c> flags.</summary>
/// <param name="HoconFile">--config: the engine's HOCON (default <c>config/lazy-actors.hocon</c>).</param>
/// <param name="SettingsFile">--settings: the service's JSON settings (default <c>config/appsettings.json</c>).</param>
/// <param name="ControlSocket">--control-socket, over the settings.</param>
/// <param name="Http">--http ADDRESS:PORT, over the settings.</param>
public sealed record ServeArguments(string? HoconFile, string? SettingsFile, string? ControlSocket, string? Http);
