import KeywardCore
import Testing

@Suite("ListenAddress: the forms of --metrics-listen and --token-listen")
struct ListenAddressTests {
    @Test("accepted forms parse to host and port, or an absolute socket path")
    func accepted() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:9464") == .tcp(host: "127.0.0.1", port: 9464))
        #expect(try ListenAddress(parsing: "0.0.0.0:0") == .tcp(host: "0.0.0.0", port: 0))
        #expect(try ListenAddress(parsing: ":9464") == .tcp(host: "0.0.0.0", port: 9464))
        #expect(try ListenAddress(parsing: "[::1]:80") == .tcp(host: "::1", port: 80))
        #expect(try ListenAddress(parsing: "localhost:65535") == .tcp(host: "localhost", port: 65_535))
        #expect(try ListenAddress(parsing: "metrics.example.com:9464") == .tcp(host: "metrics.example.com", port: 9464))
        #expect(try ListenAddress(parsing: "unix:/run/k.sock") == .unix(path: "/run/k.sock"))
        #expect(try ListenAddress(parsing: "unix:k.sock", currentDirectory: "/srv/app") == .unix(path: "/srv/app/k.sock"))
        #expect(try ListenAddress(parsing: "unix:../run/./k.sock", currentDirectory: "/srv/app") == .unix(path: "/srv/run/k.sock"))
        #expect(try ListenAddress(parsing: "[::1]:80").description == "[::1]:80")
        #expect(try ListenAddress(parsing: "[::1]:0").url(boundPort: 4321) == "http://[::1]:4321")
        #expect(try ListenAddress(parsing: "localhost:0").bindHost == "127.0.0.1")
    }

    @Test("loopback: 127.0.0.0/8, ::1, localhost and unix sockets; nothing else")
    func loopback() throws {
        for text in ["127.0.0.1:1", "127.255.0.9:1", "[::1]:1", "localhost:1", "LOCALHOST:1", "unix:/tmp/s"] {
            #expect(try ListenAddress(parsing: text).isLoopback, "\(text)")
        }
        for text in ["0.0.0.0:1", ":1", "10.1.2.3:80", "128.0.0.1:1", "[::]:1", "[::2]:1", "[::ffff:127.0.0.1]:1", "example.com:1", "localhost.example.com:1"] {
            #expect(try !ListenAddress(parsing: text).isLoopback, "\(text)")
        }
    }

    @Test("overlaps: the same socket path, or the same non-zero port on one host or a wildcard")
    func overlaps() throws {
        func overlap(_ a: String, _ b: String) throws -> Bool { try ListenAddress(parsing: a).overlaps(ListenAddress(parsing: b)) }
        #expect(try overlap("127.0.0.1:9464", "127.0.0.1:9464"))
        #expect(try overlap("0.0.0.0:9464", "127.0.0.1:9464"))
        #expect(try overlap(":9464", "localhost:9464"))
        #expect(try overlap("[::]:9464", "[::1]:9464"))
        #expect(try overlap("unix:/run/a.sock", "unix:/run/a.sock"))
        #expect(try !overlap("127.0.0.1:0", "127.0.0.1:0"), "port 0 picks two free ports")
        #expect(try !overlap("127.0.0.1:9464", "127.0.0.2:9464"))
        #expect(try !overlap("127.0.0.1:9464", "127.0.0.1:9465"))
        #expect(try !overlap("unix:/run/a.sock", "unix:/run/b.sock"))
        #expect(try !overlap("unix:/run/a.sock", "127.0.0.1:9464"))
    }

    @Test("malformed addresses are refused with what is wrong")
    func refused() {
        let cases: [(String, String)] = [
            ("9464", "has no port"), ("127.0.0.1:", "is not a port number"), ("127.0.0.1:65536", "is not a port number"),
            ("127.0.0.1:-1", "is not a port number"), ("127.0.0.1:+80", "is not a port number"), ("127.0.0.1:0x50", "is not a port number"),
            ("::1:80", "in brackets"), ("[::1:80", "is not an IPv6 address in brackets"), ("[]:80", "is not an IPv6 address in brackets"),
            ("[127.0.0.1]:80", "is not an IPv6 address"), ("999.1.1.1:80", "is not an IP address or a host name"),
            ("bad host:80", "is not an IP address or a host name"), ("-x.example:80", "is not an IP address or a host name"),
            ("http://127.0.0.1:0", "is a URL; give the address alone"), ("[::1]", "has no port: write [IPV6]:PORT"),
            ("unix:", "needs a socket path"), ("unix:/tmp/dir/", "names a directory"),
            ("unix:/" + String(repeating: "s", count: 200), "holds at most 107"),
        ]
        for (text, fragment) in cases {
            #expect {
                _ = try ListenAddress(parsing: text)
            } throws: { error in
                (error as? ListenAddressError)?.description.contains(fragment) == true
            }
        }
    }
}
