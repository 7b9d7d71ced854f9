// The MCP target as an OAuth 2.1 resource server (the MCP authorization spec): RFC 9728
// protected-resource metadata naming the authorization servers (the configured issuers), and the
// WWW-Authenticate challenge that points a client without a good token at that metadata.

/** RFC 9728 §2: what a client needs to get a token for this resource. */
export function protectedResourceMetadata(resource: string, authorizationServers: readonly string[], name: string): Record<string, unknown> {
  return {
    resource,
    authorization_servers: [...authorizationServers],
    bearer_methods_supported: ["header"],
    resource_name: name,
  };
}

function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, " ")}"`;
}

/** RFC 9728 §5.1 / RFC 6750 §3: the challenge of a 401. */
export function wwwAuthenticate(metadataUrl: string, error: "invalid_token" | null, description: string): string {
  return `Bearer resource_metadata=${quoted(metadataUrl)}${error !== null ? `, error="${error}", error_description=${quoted(description.slice(0, 200))}` : ""}`;
}
