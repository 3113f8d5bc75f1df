import Foundation

/// The script templates, embedded in the binary (no resource bundle to lose when copied).
public enum EmbeddedTemplates {
    /// Template text by file name (`jupyter.sh`), or `nil` if there is no such template.
    public static func text(named name: String) -> String? {
        let bytes: [UInt8]
        switch name {
        case "jupyter.sh": bytes = PackageResources.jupyter_sh
        case "rstudio.sh": bytes = PackageResources.rstudio_sh
        case "paraview.sh": bytes = PackageResources.paraview_sh
        case "tensorboard.sh": bytes = PackageResources.tensorboard_sh
        case "web.sh": bytes = PackageResources.web_sh
        case "code-server.sh": bytes = PackageResources.code_server_sh
        case "container.sh": bytes = PackageResources.container_sh
        case "runtime.sh": bytes = PackageResources.runtime_sh
        case "runtime-tcp.sh": bytes = PackageResources.runtime_tcp_sh
        case "relay.py": bytes = PackageResources.relay_py
        case "runtime-reverse.sh": bytes = PackageResources.runtime_reverse_sh
        case "functions.sh": bytes = PackageResources.functions_sh
        case "tunnels.sh": bytes = PackageResources.tunnels_sh
        case "license.sh": bytes = PackageResources.license_sh
        case "reverse-tunnel.sh": bytes = PackageResources.reverse_tunnel_sh
        default: return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Every embedded template's file name.
    public static let names = [
        "jupyter.sh", "rstudio.sh", "paraview.sh", "runtime.sh", "runtime-tcp.sh",
        "relay.py", "runtime-reverse.sh", "functions.sh", "tunnels.sh", "license.sh",
        "reverse-tunnel.sh", "tensorboard.sh", "web.sh",
        "code-server.sh", "container.sh",
    ]
}
