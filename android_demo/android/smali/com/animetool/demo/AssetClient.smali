# Serves https://appassets.androidplatform.net/PATH from the APK's assets/PATH (what androidx's WebViewAssetLoader
# does, without androidx). Java equivalent:
#   public WebResourceResponse shouldInterceptRequest(WebView view, WebResourceRequest request) {
#     Uri url = request.getUrl();
#     if (!"appassets.androidplatform.net".equals(url.getHost())) return null;
#     String path = url.getPath().substring(1);
#     try { return new WebResourceResponse(mime(path), null, assets.open(path)); } catch (IOException e) { return null; }
#   }
.class public Lcom/animetool/demo/AssetClient;
.super Landroid/webkit/WebViewClient;

.field private final assets:Landroid/content/res/AssetManager;

.method public constructor <init>(Landroid/content/res/AssetManager;)V
    .registers 2
    invoke-direct {p0}, Landroid/webkit/WebViewClient;-><init>()V
    iput-object p1, p0, Lcom/animetool/demo/AssetClient;->assets:Landroid/content/res/AssetManager;
    return-void
.end method

.method public shouldInterceptRequest(Landroid/webkit/WebView;Landroid/webkit/WebResourceRequest;)Landroid/webkit/WebResourceResponse;
    .registers 9
    invoke-interface {p2}, Landroid/webkit/WebResourceRequest;->getUrl()Landroid/net/Uri;
    move-result-object v0
    invoke-virtual {v0}, Landroid/net/Uri;->getHost()Ljava/lang/String;
    move-result-object v1
    const-string v2, "appassets.androidplatform.net"
    invoke-virtual {v2, v1}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-eqz v1, :elsewhere

    invoke-virtual {v0}, Landroid/net/Uri;->getPath()Ljava/lang/String;
    move-result-object v1
    const/4 v2, 0x1
    invoke-virtual {v1, v2}, Ljava/lang/String;->substring(I)Ljava/lang/String;
    move-result-object v1
    invoke-static {v1}, Lcom/animetool/demo/AssetClient;->mime(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2

    :try_start
    iget-object v3, p0, Lcom/animetool/demo/AssetClient;->assets:Landroid/content/res/AssetManager;
    invoke-virtual {v3, v1}, Landroid/content/res/AssetManager;->open(Ljava/lang/String;)Ljava/io/InputStream;
    move-result-object v3
    :try_end
    .catch Ljava/io/IOException; {:try_start .. :try_end} :elsewhere

    new-instance v4, Landroid/webkit/WebResourceResponse;
    const/4 v5, 0x0
    invoke-direct {v4, v2, v5, v3}, Landroid/webkit/WebResourceResponse;-><init>(Ljava/lang/String;Ljava/lang/String;Ljava/io/InputStream;)V
    return-object v4

    :elsewhere
    const/4 v0, 0x0
    return-object v0
.end method

# The Content-Type for a file name: module scripts and wasm are refused without the right one.
.method private static mime(Ljava/lang/String;)Ljava/lang/String;
    .registers 3
    const-string v0, ".js"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :script
    const-string v0, ".mjs"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :script
    const-string v0, ".wasm"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :wasm
    const-string v0, ".html"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :html
    const-string v0, ".json"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :json
    const-string v0, ".png"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :png
    const-string v0, "application/octet-stream"
    return-object v0
    :script
    const-string v0, "text/javascript"
    return-object v0
    :wasm
    const-string v0, "application/wasm"
    return-object v0
    :html
    const-string v0, "text/html"
    return-object v0
    :json
    const-string v0, "application/json"
    return-object v0
    :png
    const-string v0, "image/png"
    return-object v0
.end method
