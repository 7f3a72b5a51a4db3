// Upstream is the JDK's built-in HTTP server (com.sun.net.httpserver) as an
// upstream for the attack suite: it routes by the request line it parses
// itself, which is where a request line injected through an HTTP/2 :method
// was once seen to bypass per-route mTLS. Run: java Upstream.java PORT
// (single-file source mode); it prints "ready" once it listens on
// 127.0.0.1:PORT and exits when its standard input closes.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class Upstream {
    public static void main(String[] args) throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 64);
        s.createContext("/internal/", ex -> answer(ex, "internal method=" + ex.getRequestMethod() + " uri=" + ex.getRequestURI()));
        s.createContext("/", ex -> answer(ex, "target=" + ex.getRequestURI() + " method=" + ex.getRequestMethod()));
        s.start();
        System.out.println("ready");
        System.out.flush();
        while (System.in.read() != -1) {
        }
        s.stop(0);
        System.exit(0);
    }

    static void answer(HttpExchange ex, String body) throws IOException {
        ex.getRequestBody().readAllBytes();
        byte[] b = (body + "\n").getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }
}
